/// Why Autotune could not do something: the cache, a space file, the choice of a variant, or a backend. The one
/// error type of the module; the message names what failed (a path, a key, a value), and the
/// command line prints it as one line.
///
/// ```swift
/// do { _ = try TimingCache(path: "/proc/x/c.sqlite") } catch { print(error.message) }
/// ```
public struct AutotuneError: Error, Equatable, CustomStringConvertible {
    /// What failed.
    public enum Kind: Equatable, Sendable {
        /// The timing cache (a foreign, damaged, newer, locked or unwritable file).
        case cache
        /// A space file (`file:line:column: …`).
        case spaceFile
        /// Choosing a variant to emit, explain or estimate.
        case variant
        /// Starting or using a backend (the Neuron environment, its harness, its cores).
        case backend
    }

    /// What failed.
    public var kind: Kind
    /// The one-line message, naming what failed.
    public var message: String

    /// An error of `kind` with its message.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
