/// A dense row-major tensor on the host, used as interpreter input and output.
public struct HostTensor: Hashable, Sendable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "data does not fill shape \(shape)")
        self.shape = shape
        self.data = data
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.init(shape: shape, data: Array(repeating: 0, count: shape.reduce(1, *)))
    }

    /// Uniform values in [-1, 1), rounded to `dtype`, from a seeded generator.
    public static func random(_ shape: [Int], dtype: DType, seed: UInt64) -> HostTensor {
        var generator = SplitMix64(seed: seed)
        let count = shape.reduce(1, *)
        let data = (0..<count).map { _ in dtype.round(generator.nextUnitFloat() * 2 - 1) }
        return HostTensor(shape: shape, data: data)
    }
}

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
}

extension KernelTemplate {
    /// The configuration with every parameter at its default.
    public var defaultConfiguration: Configuration {
        Configuration(names: parameters.map(\.name), values: parameters.map(\.defaultValue))
    }

    /// Parses a problem text against ``problemFields``.
    public func parseProblem(_ text: String) throws(ProblemError) -> Problem {
        try problemFields.parse(text)
    }
}

/// A small, fast, seedable generator (SplitMix64) so runs and tests are reproducible.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A float in [0, 1).
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) / Float(1 << 24)
    }
}
