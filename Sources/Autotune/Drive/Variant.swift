import CostModel
import KernelSpace

/// One configuration of a template for one problem on one target: the unit the tuner evaluates.
public struct Variant: Sendable {
    /// The kernel template.
    public var template: any KernelTemplate
    /// The problem.
    public var problem: Problem
    /// The configuration.
    public var configuration: Configuration
    /// The target chip.
    public var target: Target

    /// Creates a value with every field given.
    public init(template: any KernelTemplate, problem: Problem, configuration: Configuration, target: Target) {
        self.template = template
        self.problem = problem
        self.configuration = configuration
        self.target = target
    }
}

extension Variant {
    /// The variant's program, or the invalid measurement a template restriction or a hardware
    /// limit makes of it (what every backend checks before it compiles anything).
    public func validProgram() -> Result<KernelProgram, MeasurementResult> {
        if let reason = template.restriction(configuration, for: problem) {
            return .failure(MeasurementResult(.invalid(reason)))
        }
        let program = template.program(for: problem, configuration: configuration)
        if let reason = ResourceCheck.violation(of: program, limits: target.limits) {
            return .failure(MeasurementResult(.invalid(reason)))
        }
        return .success(program)
    }
}

/// How an evaluation ended.
public enum VariantStatus: String, Sendable, Codable {
    /// Timed, and (where checked) numerically right.
    case ok
    /// Breaks a hardware limit or a template restriction; never run.
    case invalid
    /// Crashed, failed to compile, timed out, or computed a wrong answer.
    case failed
}

/// The result of evaluating one variant, as stored in the cache.
public struct Measurement: Sendable, Equatable {
    /// How it ended.
    public var status: VariantStatus
    /// Why the variant is invalid or failed.
    public var reason: String?
    /// Latency statistics in ns (one sample on the model backend).
    public var latency: Double?
    /// Fastest run (ns).
    public var latencyMin: Double?
    /// Slowest run (ns).
    public var latencyMax: Double?
    /// How many timed runs the statistics come from.
    public var samples: Int
    /// Busy time per engine (ns), as the backend reports it.
    public var busy: [Engine: Double]
    /// DMA bytes, instruction count and other figures the backend reports.
    public var metrics: [String: Double]
    /// Seconds spent compiling.
    public var compileSeconds: Double
    /// Seconds spent measuring.
    public var measureSeconds: Double

    /// Creates a value with every field given.
    public init(
        status: VariantStatus, reason: String? = nil, latency: Double? = nil, latencyMin: Double? = nil,
        latencyMax: Double? = nil, samples: Int = 0, busy: [Engine: Double] = [:], metrics: [String: Double] = [:],
        compileSeconds: Double = 0, measureSeconds: Double = 0
    ) {
        self.busy = busy
        self.status = status
        self.reason = reason
        self.latency = latency
        self.latencyMin = latencyMin
        self.latencyMax = latencyMax
        self.samples = samples
        self.metrics = metrics
        self.compileSeconds = compileSeconds
        self.measureSeconds = measureSeconds
    }

    /// The engine with the largest busy time: what bounds the variant, when the backend reports
    /// busy times.
    public var boundEngine: Engine? {
        Engine.allCases.filter { busy[$0] != nil }.max { busy[$0, default: 0] < busy[$1, default: 0] }
    }

    /// An invalid variant with its reason.
    public static func invalid(_ reason: String) -> Measurement { Measurement(status: .invalid, reason: reason) }

    /// A failed variant with its reason.
    public static func failed(_ reason: String) -> Measurement { Measurement(status: .failed, reason: reason) }
}
