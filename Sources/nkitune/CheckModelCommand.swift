import ArgumentParser
import Autotune
import Foundation
import KernelSpace
import MoEModel

struct CheckModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-model",
        abstract: "Run the accuracy gate on the variants export would choose.",
        discussion: """
            Chains the chosen decode kernels through decoder layers on the CPU interpreter (a synthetic \
            model at one rank's real widths, seeded random weights), then the final norm and the lm_head, \
            for a few greedy steps, and compares the logits with a plain fp32 reference under the \
            contest harness's tolerance map and divergence rule. Prints the worst value per rule; exits 1 \
            when a rule fails.

            Example: nkitune check-model qwen3-30b-a3b --target trn2
            """)

    @OptionGroup var deploymentOptions: DeploymentOptions
    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var spaceOptions: SpaceOptions
    @OptionGroup var accuracyOptions: AccuracyOptions

    func run() throws {
        let deployment = try deploymentOptions.deployment()
        let target = deploymentOptions.target.target
        let spaces = try spaceOptions.spaces(for: deployment.model)
        let cache = try cacheOptions.openCacheForReading()
        let backend = try cacheOptions.makeBackend(jobs: 1, cache: cache, target: target)
        let export = try ModelExporter(backend: backend, cache: cache).gather(
            deployment, target: target, spaces: spaces, run: nil)
        let outcome = try export.checkAccuracy(layers: accuracyOptions.gateLayers, steps: accuracyOptions.gateSteps)
        Output.line("accuracy gate " + outcome.summary)
        if !outcome.passed { throw CLIError("accuracy gate failed: a rule's worst value exceeds its limit") }
    }
}
