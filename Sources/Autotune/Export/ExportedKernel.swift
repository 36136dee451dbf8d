import CostModel
import KernelSpace
import MoEModel

/// One task's chosen variant as it is exported: its program under a function name of its own,
/// and how it was measured.
public struct ExportedKernel: Sendable {
    /// The task it serves.
    public var task: ModelTask
    /// The function's name in the exported files (`qkv_m640_k2048_n1280`), made of the kernel
    /// id and the problem's typed values.
    public var function: String
    /// The configuration.
    public var configuration: Configuration
    /// How the model module calls it: the function, with its launch grid when it runs on
    /// several cores (`expert_mlp_decode_t1_h2048[2]`).
    public var launcher: String { program.cores > 1 ? "\(function)[\(program.cores)]" : function }

    /// Its program, named ``function``.
    public var program: KernelProgram
    /// `tuned`, `default` or `first valid`.
    public var source: String
    /// Standalone latency of the chosen variant (ns), if measured.
    public var latency: Double?
    /// Standalone latency before tuning: the variant chosen from an empty cache (ns).
    public var untunedLatency: Double?
    /// Busy time per engine of the chosen variant (ns), if measured.
    public var busy: [Engine: Double]
    /// The numeric check's verdict on the chosen variant, if it was checked.
    public var check: CheckStatus?
    /// When the chosen variant was measured (ISO 8601), if it came from the cache.
    public var measuredAt: String?

    /// The file under `kernels/`.
    public var fileName: String { "kernels/\(function).py" }

    /// The function name of a task: kernel id and problem values, lower case, `_`-separated.
    public static func functionName(_ task: ModelTask) -> String {
        let text = task.template.id + "_" + task.problem.key
        return String(
            text.lowercased().map { character -> Character in
                character.isLetter || character.isNumber ? character : (character == "=" ? "\u{0}" : "_")
            }.filter { $0 != "\u{0}" })
    }
}
