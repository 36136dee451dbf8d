import ArgumentParser
import Autotune
import CostModel
import Foundation
import KernelSpace

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Evaluate one fleet batch into its own shard (run by a Slurm array task).",
        discussion: """
            Reads <round>/batch-<index>.json from the shared directory, checks the round's marker \
            (so a host that does not see the coordinator's directory refuses), evaluates the \
            configurations on this host's backend and stores each few results in \
            <round>/shard-<index>.sqlite, which the coordinator merges. The index defaults to \
            $SLURM_ARRAY_TASK_ID. `tune --slurm` and `tune-model --slurm` start workers; there is \
            little reason to run one by hand.
            """)

    @Option(help: "The round's directory in the shared directory.")
    var round: String

    @Option(help: "The batch's index (default: $SLURM_ARRAY_TASK_ID).")
    var index: Int?

    @Option(help: "Threads that compile and time variants.")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Backend that times variants.")
    var backend: BackendName = .model

    @OptionGroup(title: "Neuron backend (--backend neuron)") var neuronArguments: NeuronArguments

    @Option(help: "Physical cores per logical core the neuron backend measures on (the coordinator's).")
    var lnc: Int = 1

    /// Seconds to pause after each variant: lets the fleet tests cancel a task part-way.
    @Option(help: .hidden) var pauseAfterEach: Double = 0

    func validate() throws {
        guard lnc == 1 || lnc == 2 else { throw ValidationError("--lnc \(lnc) must be 1 or 2") }
        guard (1...TuneCommand.maximumJobs).contains(jobs) else {
            throw ValidationError("--jobs \(jobs) must be between 1 and \(TuneCommand.maximumJobs)")
        }
    }

    func run() throws {
        let environment = ProcessInfo.processInfo.environment["SLURM_ARRAY_TASK_ID"].flatMap { Int($0) }
        guard let index = index ?? environment else {
            throw CLIError("worker: no --index and no SLURM_ARRAY_TASK_ID")
        }
        let batch = try FleetBatch.read(FleetBatch.path(round: round, index: index))
        guard let template = KernelName(argument: batch.kernel)?.template else {
            throw CLIError("worker: batch kernel '\(batch.kernel)' is not a template of this nkitune")
        }
        guard let target = Target.named(batch.target) else {
            throw CLIError("worker: batch target '\(batch.target)' is not a target of this nkitune")
        }
        let problem = try template.parseProblem(batch.problem)
        let space = SearchSpace(template)
        let configurations = try batch.configurations.map { try space.parse($0) }
        let shard = try TimingCache(path: FleetBatch.shard(round: round, index: index))
        let backend: any Backend =
            switch self.backend {
            case .model: ModelBackend(slots: jobs)
            case .neuron: try NeuronBackend.start(neuronArguments.options(lnc: lnc))
            }
        let request = TuneRequest(
            space: space, problem: problem, target: target, strategy: .exhaustive, budget: nil, seed: 1, jobs: jobs,
            verify: 0)
        let driver = Driver(backend: backend, cache: shard)
        var evaluated = 0
        if pauseAfterEach > 0 {
            for configuration in configurations {
                evaluated += try driver.measure([configuration], request: request)
                Thread.sleep(forTimeInterval: pauseAfterEach)
            }
        } else {
            evaluated = try driver.measure(configurations, request: request)
        }
        Output.line("worker \(index): \(evaluated) evaluated of \(configurations.count) in \(shard.path)")
    }
}
