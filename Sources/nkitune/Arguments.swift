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
    /// Trainium's NeuronCores, through the Neuron SDK (`--python`, `--cores`, `--sdk`, ...).
    case neuron
}

extension SchedulePolicy: ExpressibleByArgument {}

/// A length of time such as `8h`, `30m`, `90s` or `1h30m`.
struct TimeBudget: ExpressibleByArgument, Sendable {
    /// Seconds.
    let seconds: Double

    init?(argument: String) {
        var total = 0.0
        var number = ""
        var sawUnit = false
        for character in argument.lowercased() {
            if character.isNumber || character == "." {
                number.append(character)
                continue
            }
            let unit: Double
            switch character {
            case "h": unit = 3600
            case "m": unit = 60
            case "s": unit = 1
            default: return nil
            }
            guard let value = Double(number), value >= 0 else { return nil }
            total += value * unit
            number = ""
            sawUnit = true
        }
        if !number.isEmpty {
            guard !sawUnit, let value = Double(number) else { return nil }
            total += value  // bare seconds
        }
        guard sawUnit || !argument.isEmpty, total > 0, total <= 30 * 86_400 else { return nil }
        seconds = total
    }

    var defaultValueDescription: String { Self.describe(seconds) }

    /// `2h 5m`, `30m`, `45 s`.
    static func describe(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        if whole < 60 { return "\(whole) s" }
        let (hours, minutes, rest) = (whole / 3600, (whole % 3600) / 60, whole % 60)
        var parts: [String] = []
        if hours > 0 { parts.append("\(hours)h") }
        if minutes > 0 { parts.append("\(minutes)m") }
        if rest > 0 && hours == 0 { parts.append("\(rest)s") }
        return parts.joined(separator: " ")
    }
}
