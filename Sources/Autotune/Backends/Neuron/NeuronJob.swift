import Foundation
import KernelSpace

/// What the harness needs to compile, run and check one variant: written as `job.json` beside the
/// kernel, every value typed (paths relative to the job's directory).
struct NeuronJob: Codable, Sendable, Equatable {
    /// One kernel argument: its name, `.npy` file and dtype.
    struct Input: Codable, Sendable, Equatable {
        var name: String
        var file: String
        var dtype: String
    }

    /// One kernel output: its name, shape, dtype and the reference's `.npy` file.
    struct Output: Codable, Sendable, Equatable {
        var name: String
        var shape: [Int]
        var dtype: String
        var expected: String
    }

    var format = 1
    var kernelFile: String
    var function: String
    var target: String
    var lnc: Int
    /// Physical cores the kernel runs on: the harness launches it as `kernel[cores]`.
    var cores: Int
    var inputs: [Input]
    var outputs: [Output]
    var tolerance: Double
    var exact: Bool
    var warmup: Int
    var iterations: Int

    enum CodingKeys: String, CodingKey {
        case format, function, target, lnc, cores, inputs, outputs, tolerance, exact, warmup, iterations
        case kernelFile = "kernel_file"
    }

    /// The dtype as the harness names it.
    static func name(of dtype: DType) -> String {
        switch dtype {
        case .bf16: "bfloat16"
        case .fp32: "float32"
        case .int32: "int32"
        }
    }
}

/// What the harness reports (`--out RESULT.json`).
struct HarnessResult: Decodable, Sendable {
    /// Latency statistics in ns.
    struct Latency: Decodable, Sendable {
        var p50: Double
        var p90: Double
        var p99: Double
        var min: Double
        var max: Double
        var mean: Double
        var samples: Int
    }

    /// `ok`, `dry-run`, `compile_error`, `resource_overflow`, `runtime_error`, `wrong_answer`,
    /// `missing_nki`, `unhealthy`, `profile_error`.
    var status: String
    var message: String?
    var neff: String?
    var seconds: Double?
    var error: Double?
    var versions: [String: String]?
    var generation: String?
    var latency: Latency?
    var summary: [String: Double]?

    enum CodingKeys: String, CodingKey {
        case status, message, neff, seconds, error, versions, generation, summary
        case latency = "latency_ns"
    }
}
