/// Why KernelSpace refused something: a problem text, a configuration key, a restriction, or a
/// program the interpreter cannot run. The one error type of the module; the message names the bad
/// value, and the command line prints it as one line.
///
/// ```swift
/// do { _ = try LinearTemplate().parseProblem("M=0,K=1,N=1") } catch { print(error.message) }
/// ```
public struct KernelSpaceError: Error, Equatable, CustomStringConvertible {
    /// What was refused.
    public enum Kind: Equatable, Sendable {
        /// A problem text (`M=640,K=2048,N=768`).
        case problem
        /// A configuration key.
        case configuration
        /// A restriction expression, at a 1-based column.
        case expression(column: Int)
        /// A program the interpreter could not run.
        case interpreter
    }

    /// What was refused.
    public var kind: Kind
    /// The one-line message, naming the bad value.
    public var message: String

    /// An error of `kind` with its message.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// The column of an expression error.
    public var column: Int? {
        if case .expression(let column) = kind { return column }
        return nil
    }

    /// The message; an expression error starts with its column.
    public var description: String { column.map { "column \($0): \(message)" } ?? message }
}
