import ArgumentParser
import Foundation
import MoEModel

/// Options that name a model and how it is deployed; the defaults are the contest harness's.
struct DeploymentOptions: ParsableArguments {
    @Argument(help: "Built-in model name (qwen3-30b-a3b) or path to a Qwen3-MoE config.json.")
    var model: String

    @Option(help: "Target chip.")
    var target: TargetName = .trn2

    @Option(help: "Tensor-parallel degree.")
    var tp: Int = 4

    @Option(
        help: ArgumentHelp(
            "Physical cores per logical core (rank): 2 lets kernels split their work over both (their 'split' "
                + "parameter); 1 fixes every split to none.",
            discussion: "Default: 2 on trn2 and trn3 (the contest's LNC 2), 1 on trn1 (no LNC 2)."))
    var lnc: Int?

    @Option(help: "Sequence length: the bucket of prompt plus generated tokens.")
    var sequence: Int = 640

    @Option(help: "Prefill on exactly this many prompt tokens (default: the whole bucket, as the contest pads).")
    var prompt: Int?

    @Option(help: "Decode over exactly this many cached positions (default: the prompt, else the whole bucket).")
    var position: Int?

    /// The model's configuration, or a one-line error naming the bad name or file.
    func loadModel() throws -> ModelConfig {
        if let builtIn = ModelConfig.builtIn[model] { return builtIn }
        guard FileManager.default.fileExists(atPath: model) else {
            let known = ModelConfig.builtIn.keys.sorted().joined(separator: ", ")
            throw CLIError("unknown model '\(model)' (expected a config.json path or one of: \(known))")
        }
        guard let data = FileManager.default.contents(atPath: model) else { throw CLIError("cannot read \(model)") }
        return try ModelConfig(json: data, name: model)
    }

    mutating func validate() throws {
        if let lnc, lnc != 1 && lnc != 2 { throw ValidationError("--lnc \(lnc) must be 1 or 2") }
        if lnc == 2 && target.target.coresPerLogicalCore < 2 {
            throw ValidationError("--lnc 2: a logical core of \(target.target.name) has one physical core")
        }
    }

    /// The deployment, or a one-line error saying why the model cannot be split this way.
    func deployment() throws -> Deployment {
        let deployment = Deployment(
            model: try loadModel(), target: target.target.name, tensorParallel: tp,
            logicalCoreSize: lnc ?? target.target.coresPerLogicalCore, sequenceLength: sequence,
            promptLength: prompt, decodePosition: position)
        if let problem = deployment.problem { throw CLIError(problem) }
        return deployment
    }
}
