import Foundation
import Synchronization

/// Set by the first Ctrl-C; a second one exits at once.
let interruptRequested = Atomic<Bool>(false)

/// Makes Ctrl-C ask the running search to stop after the batch in flight (whose results are saved).
enum Interruption {
    nonisolated(unsafe) private static var source: (any DispatchSourceSignal)?

    static func install() {
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler {
            if interruptRequested.exchange(true, ordering: .relaxed) { exit(130) }
            FileHandle.standardError.write(
                Data("\ninterrupt: stopping after the current batch (Ctrl-C again to quit now)\n".utf8))
        }
        source.resume()
        Self.source = source
    }

    static var requested: Bool { interruptRequested.load(ordering: .relaxed) }
}
