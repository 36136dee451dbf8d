import ArgumentParser
import Autotune
import CostModel
import KernelSpace
import MoEModel

/// The templates single-kernel commands work with: the built-in model's (qwen3-30b-a3b), built
/// with its numbers (RMSNorm epsilon, RoPE base, top-k renormalisation).
let defaultKernels = ModelConfig.qwen3MoE30BA3B.kernels

/// A kernel template named on the command line; `--help` lists the catalog.
struct KernelName: ExpressibleByArgument, Sendable {
    let template: any KernelTemplate

    init?(argument: String) {
        guard let template = defaultKernels.first(where: { $0.id == argument }) else { return nil }
        self.template = template
    }

    static var allValueStrings: [String] { defaultKernels.map(\.id) }
    var defaultValueDescription: String { template.id }
}

/// A target chip named on the command line; `--help` lists the targets.
struct TargetName: ExpressibleByArgument, Sendable {
    let target: Target

    init?(argument: String) {
        guard let target = Target.named(argument) else { return nil }
        self.target = target
    }

    static var allValueStrings: [String] { Target.all.map(\.name) }
    var defaultValueDescription: String { target.name }

    /// The default target, trn2.
    static let trn2 = TargetName(argument: "trn2")!
}

extension Strategy: ExpressibleByArgument {}

/// The backends that time variants.
enum BackendName: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// The NeuronCore performance model.
    case model
}
