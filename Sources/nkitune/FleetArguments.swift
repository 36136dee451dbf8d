import ArgumentParser
import Autotune
import Foundation

/// Where a tune's batches are evaluated: here, or on a Slurm cluster (`--slurm`).
struct FleetArguments: ParsableArguments {
    @Flag(help: "Evaluate batches as Slurm job arrays (one task per host) instead of on this host.")
    var slurm = false

    @Option(help: "Slurm partition (default: the cluster's default).")
    var partition: String?

    @Option(help: "Array tasks per round: hosts at once.")
    var hosts: Int = 1

    @Option(help: "Directory every host sees (rounds, batches and shards go there).")
    var shared: String?

    func validate() throws {
        guard slurm || (partition == nil && shared == nil && hosts == 1) else {
            throw ValidationError("--partition, --hosts and --shared go with --slurm")
        }
        guard (1...4096).contains(hosts) else { throw ValidationError("--hosts \(hosts) must be between 1 and 4096") }
        if slurm && shared == nil { throw ValidationError("--slurm needs --shared DIR, a directory every host sees") }
    }

    /// The fleet, or nil to evaluate here; workers run this nkitune with `worker` and the
    /// backend's options (the neuron backend at `lnc` physical cores per logical core).
    func fleet(backend: BackendName, neuron: NeuronArguments, lnc: Int, jobs: Int) throws -> (any Fleet)? {
        guard slurm, let shared else { return nil }
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        var worker = [executable, "worker", "--backend", backend.rawValue, "--jobs", String(jobs)]
        if backend == .neuron { worker += neuron.arguments + ["--lnc", String(lnc)] }
        if let pause = ProcessInfo.processInfo.environment["NKITUNE_TEST_WORKER_PAUSE"], Double(pause) != nil {
            worker += ["--pause-after-each", pause]
        }
        return try SlurmFleet(
            shared: shared, partition: partition, hosts: hosts, worker: worker, log: { Output.error($0 + "\n") })
    }
}
