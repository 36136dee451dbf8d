import Foundation
import Synchronization

/// Set by the first Ctrl-C (or SIGTERM); a second one exits at once.
let interruptRequested = Atomic<Bool>(false)

/// Makes Ctrl-C ask the running search or checks to stop after the variants in flight (whose
/// results are saved).
enum Interruption {
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    static func install() {
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if interruptRequested.exchange(true, ordering: .relaxed) { exit(130) }
                Output.error("\ninterrupt: stopping after the variants in flight (Ctrl-C again to quit now)\n")
            }
            source.resume()
            sources.append(source)
        }
    }

    static var requested: Bool { interruptRequested.load(ordering: .relaxed) }
}
