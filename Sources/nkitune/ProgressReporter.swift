import Foundation

/// Progress on standard error: one redrawn line on a terminal (at most ten times a second); otherwise
/// a line every five percent, or each second for the first ten lines and every ten seconds after.
/// The first update is shown at once.
final class ProgressReporter {
    private let label: String
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var lastPercent = -100
    private var lastDraw: ContinuousClock.Instant?
    private var open = false
    private var lines = 0

    init(label: String) { self.label = label }

    func update(done: Int, total: Int, detail: String) {
        let percent = total <= 0 ? 100 : Int(min(100, Double(done) * 100 / Double(total)))
        let now = ContinuousClock.now
        let text = "\(label) \(done)/\(total) (\(percent)%) \(detail)"
        if isTerminal {
            if let lastDraw, now - lastDraw < .milliseconds(100) { return }
            lastDraw = now
            Output.error("\r\u{1B}[K" + text)
            open = true
        } else if lastDraw.map({ now - $0 >= .seconds(lines < 10 ? 1 : 10) }) ?? true || percent >= lastPercent + 5 {
            lastPercent = percent
            lastDraw = now
            lines += 1
            Output.error(text + "\n")
        }
    }

    /// Ends a redrawn line, so what follows starts on a line of its own.
    func finish() {
        if open { Output.error("\n") }
        open = false
    }
}
