import Autotune
import Foundation

/// The progress of `tune-model` on standard error: on a terminal a status block redrawn after
/// every slice (at most ten times a second); otherwise a line per round.
final class TuneModelStatus {
    private let time: Double?
    private let budget: Int?
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var drawnLines = 0
    private var lastDraw: ContinuousClock.Instant?

    init(time: Double?, budget: Int?) {
        self.time = time
        self.budget = budget
    }

    func slice(_ status: ModelTuneStatus) {
        guard isTerminal else { return }
        let now = ContinuousClock.now
        if let lastDraw, now - lastDraw < .milliseconds(100) { return }
        lastDraw = now
        draw(status)
    }

    func round(_ status: ModelTuneStatus) {
        if isTerminal {
            draw(status)
        } else {
            Output.error(
                "round \(status.round): \(status.spent.measurements) measured in "
                    + "\(TimeBudget.describe(status.spent.seconds)); decode \(formatLatency(status.now.decode)), "
                    + "prefill \(formatLatency(status.now.prefill)), score \(String(format: "%.2f", status.now.score)) "
                    + "(start: decode \(formatLatency(status.start.decode)), "
                    + "score \(String(format: "%.2f", status.start.score)))\n")
        }
    }

    /// Leaves the status block on screen and moves below it.
    func finish() {
        drawnLines = 0
    }

    private func draw(_ status: ModelTuneStatus) {
        let elapsed = status.spent.seconds
        var remaining: [String] = []
        if let time { remaining.append(TimeBudget.describe(max(0, time - elapsed)) + " left") }
        if let budget { remaining.append("\(max(0, budget - status.spent.measurements)) measurements left") }
        let lines = [
            "elapsed \(TimeBudget.describe(elapsed)), " + remaining.joined(separator: ", "),
            "round \(status.round), tasks \(status.tasks) (\(status.exhaustedTasks) exhausted), now: \(status.task)",
            "variants measured \(status.spent.measurements)",
            "decode/token \(formatLatency(status.now.decode)) (start \(formatLatency(status.start.decode))), "
                + "prefill \(formatLatency(status.now.prefill)) (start \(formatLatency(status.start.prefill)))",
            "estimated score \(String(format: "%.2f", status.now.score)) (start "
                + "\(String(format: "%.2f", status.start.score)))",
        ]
        var text = drawnLines > 0 ? "\u{1B}[\(drawnLines)A" : ""
        for line in lines { text += "\r\u{1B}[K" + line + "\n" }
        Output.error(text)
        drawnLines = lines.count
    }
}
