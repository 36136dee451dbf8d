import Foundation
import Synchronization

/// Standard output and standard error for the command line. Nothing here traps: a closed or broken
/// standard error is ignored, and a failed write to standard output is remembered and turned into an
/// error when the command finishes (``finish()``), so `nkitune emit > file` on a full disk fails.
enum Output {
    /// The first failed write to standard output, if any.
    private static let failure = Mutex<String?>(nil)

    /// Writes a line to standard output.
    static func line(_ text: String) {
        write(text + "\n")
    }

    /// Writes text to standard output.
    static func write(_ text: String) {
        do {
            try FileHandle.standardOutput.write(contentsOf: Data(text.utf8))
        } catch {
            let reason = (error as NSError).localizedDescription
            failure.withLock { if $0 == nil { $0 = reason } }
        }
    }

    /// Writes text to standard error; failures (a closed or full stream) are ignored.
    static func error(_ text: String) {
        try? FileHandle.standardError.write(contentsOf: Data(text.utf8))
    }

    /// Throws if any write to standard output failed.
    static func finish() throws {
        if let reason = failure.withLock({ $0 }) { throw CLIError("cannot write standard output: \(reason)") }
    }
}
