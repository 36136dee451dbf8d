/// A parameterised NKI kernel: its problem, its parameters, and how a configuration becomes a program.
public protocol KernelTemplate: Sendable {
    /// Identifier used on the command line (`linear`).
    var id: String { get }
    /// One line on what the kernel computes.
    var summary: String { get }
    /// Problem dimensions and options.
    var problemFields: [ProblemField] { get }
    /// Tunable parameters with their built-in domains and defaults.
    var parameters: [Parameter] { get }
    /// The parameters that change the numbers computed (reduction order or split, accumulation
    /// precision, where rounding happens). All others only move data or change engines, so two
    /// configurations that agree on these compute bit-identical outputs.
    var numericParameters: Set<String> { get }
    /// Why a configuration is not a sensible variant of this problem, or nil if it is.
    /// Hardware limits are checked separately, on the program (``ResourceCheck``).
    func restriction(_ configuration: Configuration, for problem: Problem) -> String?
    /// The kernel program of a configuration that passes ``restriction(_:for:)``.
    func program(for problem: Problem, configuration: Configuration) -> KernelProgram
    /// Random logical inputs (the operands as the reference takes them), for checks.
    func inputs(for problem: Problem, seed: UInt64) -> [HostTensor]
    /// The kernel's arguments for logical inputs: a configuration may want an operand in another layout.
    func arguments(_ inputs: [HostTensor], problem: Problem, configuration: Configuration) -> [HostTensor]
    /// What the kernel must compute from logical inputs, written plainly.
    func reference(for problem: Problem, inputs: [HostTensor]) -> [HostTensor]
    /// Multiply-accumulates of one call.
    func macs(for problem: Problem) -> Int
    /// A smaller problem that exercises the same program structure, for numeric checks.
    func checkProblem(for problem: Problem, configuration: Configuration) -> Problem
    /// Allowed relative error of a numeric check against ``reference(for:inputs:)``.
    func tolerance(for problem: Problem) -> Double
    /// Small problems that exercise the template's structure, including sizes that do not divide
    /// its tiles: what the test suite checks every template on.
    var checkProblems: [String] { get }
    /// A problem to show the template on (`explain`, `tune` in the tests), at about its real size.
    var demoProblem: String { get }
    /// Parameters the performance model times but the emitted source cannot state, each with the
    /// reason: on hardware they are the compiler's choice (NKI Beta 2 has no control for them), so
    /// hardware timings of variants that differ only in them differ only by noise.
    var compilerHints: [String: String] { get }
}

extension KernelTemplate {
    /// The logical inputs unchanged: the kernel takes its operands as the reference does.
    public func arguments(_ inputs: [HostTensor], problem: Problem, configuration: Configuration) -> [HostTensor] {
        inputs
    }

    /// A few bf16 ulps: the outputs are bf16, or computed through bf16 operands.
    public func tolerance(for problem: Problem) -> Double { 2e-2 }

    /// None: every parameter shows in the emitted source.
    public var compilerHints: [String: String] { [:] }

    /// The configuration with every parameter at its default.
    public var defaultConfiguration: Configuration {
        Configuration(names: parameters.map(\.name), values: parameters.map(\.defaultValue))
    }

    /// Parses a problem text against ``problemFields``.
    public func parseProblem(_ text: String) throws(KernelSpaceError) -> Problem {
        try problemFields.parse(text)
    }
}
