import Foundation

/// Progress on standard error: one redrawn line on a terminal, a line every few percent otherwise.
final class ProgressReporter {
    private let label: String
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var lastPercent = -100
    private var lastDraw = ContinuousClock.now - .seconds(1)

    init(label: String) { self.label = label }

    func update(done: Int, total: Int, detail: String) {
        let percent = total == 0 ? 100 : done * 100 / total
        if isTerminal {
            let now = ContinuousClock.now
            guard done == total || now - lastDraw >= .milliseconds(100) else { return }
            lastDraw = now
            FileHandle.standardError.write(Data("\r\u{1B}[K\(label) \(done)/\(total) (\(percent)%) \(detail)".utf8))
            if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else if percent >= lastPercent + 5 || (done == total && lastPercent != percent) {
            lastPercent = percent
            FileHandle.standardError.write(Data("\(label) \(done)/\(total) (\(percent)%) \(detail)\n".utf8))
        }
    }
}
