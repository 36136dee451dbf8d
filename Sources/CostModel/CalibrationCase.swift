import KernelSpace

/// A published hardware measurement and the `linear` configuration that has the same structure.
public struct CalibrationCase: Sendable {
    /// Which published table the row belongs to.
    public var table: String
    /// The version.
    public var version: String
    /// The target chip.
    public var target: Target
    /// The `linear` problem of the published kernel.
    public var problem: String
    /// The configuration.
    public var configuration: String
    /// Published latency in ms.
    public var publishedMilliseconds: Double

    /// Every row of `shared/reference/calibration.md`, each written as a `linear` configuration.
    /// Within a table, rows are in the published order (slowest first).
    public static let all: [CalibrationCase] = {
        let tutorial = "M=4096,K=8192,N=8192"
        let base = "tile_m=128,tile_k=128,tile_n=512,x_layout=pretransposed"
        let tiled = base + ",block_m=1,block_k=1,block_n=1,loop_order=mnk,x_bufs=3,w_bufs=3"
        let hoisted = base + ",block_m=1,block_k=64,block_n=1,loop_order=mkn,x_bufs=2,w_bufs=2"
        return [
            CalibrationCase(
                table: "matmul tutorial, trn1 bf16", version: "tiled", target: .trn1, problem: tutorial,
                configuration: tiled, publishedMilliseconds: 51.80),
            CalibrationCase(
                table: "matmul tutorial, trn1 bf16", version: "hoisted loads", target: .trn1, problem: tutorial,
                configuration: hoisted, publishedMilliseconds: 42.96),
            CalibrationCase(
                table: "matmul tutorial, trn1 bf16", version: "blocked free dimensions", target: .trn1,
                problem: tutorial,
                configuration: base + ",block_m=2,block_k=64,block_n=2,loop_order=mkn,x_bufs=1,w_bufs=1",
                publishedMilliseconds: 22.07),
            CalibrationCase(
                table: "matmul tutorial, trn1 bf16", version: "fully optimised", target: .trn1, problem: tutorial,
                configuration: base + ",block_m=16,block_k=8,block_n=2,loop_order=nkm,x_bufs=2,w_bufs=2,acc_dtype=bf16",
                publishedMilliseconds: 6.97),
            CalibrationCase(
                table: "optimisation how-to, trn2 fp32", version: "tiled", target: .trn2,
                problem: tutorial + ",dtype=fp32",
                configuration: tiled, publishedMilliseconds: 39.89),
            CalibrationCase(
                table: "optimisation how-to, trn2 fp32", version: "loads hoisted", target: .trn2,
                problem: tutorial + ",dtype=fp32",
                // fp32 doubles the hoisted W block (128 KiB per partition): one copy fits SBUF, two do not.
                configuration: base + ",block_m=1,block_k=64,block_n=1,loop_order=mkn,x_bufs=2,w_bufs=1",
                publishedMilliseconds: 28.2),
            CalibrationCase(
                table: "optimisation how-to, trn2 fp32", version: "M/N/K blocking", target: .trn2,
                problem: tutorial + ",dtype=fp32",
                configuration: base + ",block_m=16,block_k=8,block_n=1,loop_order=nkm,x_bufs=1,w_bufs=2",
                publishedMilliseconds: 28.30),
        ]
    }()

    /// The model's report for this row; throws if the configuration is not a valid variant.
    public func predict() throws -> CostReport {
        Timeline.simulate(try program(), on: target)
    }

    /// The row as a calibration sample: its program and the published latency.
    public func sample() throws -> CalibrationSample {
        CalibrationSample(label: version, program: try program(), measured: publishedMilliseconds * 1e6)
    }

    /// The `linear` program with the published kernel's structure; throws if it is not a valid variant.
    public func program() throws -> KernelProgram {
        let template = LinearTemplate()
        let problem = try template.parseProblem(self.problem)
        let configuration = try SearchSpace(template).parse(configuration)
        if let reason = template.restriction(configuration, for: problem) {
            throw KernelSpaceError(.configuration, "\(version): \(reason)")
        }
        let program = template.program(for: problem, configuration: configuration)
        if let reason = ResourceCheck.violation(of: program, limits: target.limits) {
            throw KernelSpaceError(.configuration, "\(version) on \(target.name): \(reason)")
        }
        return program
    }
}
