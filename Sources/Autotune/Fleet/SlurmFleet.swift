import Foundation
import KernelSpace

/// Evaluates batches as Slurm job arrays: one array task per host, each running `nkitune worker`
/// on its batch from the shared directory and writing its own SQLite shard there; the coordinator
/// waits for the array, merges the shards into the main cache (idempotent: rows are keyed by
/// content) and resubmits what failed tasks left undone.
///
/// Each round lives in `<shared>/rounds/<id>/`: `marker` (a token the workers check, so a host
/// that does not see the coordinator's directory refuses instead of working on something else),
/// `batch-<i>.json`, `shard-<i>.sqlite`, `task-<i>.log`, and `task.sh`, a fixed two-line script that
/// runs the worker command it is given as arguments (no user text becomes shell code).
///
/// ```swift
/// let fleet = try SlurmFleet(shared: "/fsx/nkitune", hosts: 8, worker: ["/fsx/bin/nkitune", "worker"])
/// let driver = Driver(backend: backend, cache: cache, fleet: fleet)
/// ```
public struct SlurmFleet: Fleet {
    /// The shared directory every host sees.
    public let shared: String
    /// The partition, or nil for the default one.
    public let partition: String?
    /// Array tasks per round (hosts at once).
    public let hosts: Int
    /// The worker command, up to its `--round` argument: the nkitune executable, `worker` and the
    /// backend's options.
    public let worker: [String]
    /// Rounds a batch gets before what is left is given up for this call.
    public let attempts: Int
    /// How often the queue is polled.
    public let poll: Duration
    /// Where the coordinator says what it does (submissions, task failures, merges).
    public let log: @Sendable (String) -> Void

    /// A fleet on `shared`, which must be an existing directory this host can write.
    public init(
        shared: String, partition: String? = nil, hosts: Int, worker: [String], attempts: Int = 3,
        poll: Duration = .seconds(2), log: @escaping @Sendable (String) -> Void = { _ in }
    ) throws(AutotuneError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: shared, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw AutotuneError(.backend, "--shared \(shared) is not a directory (is the shared file system mounted?)")
        }
        let probe = shared + "/.nkitune-write-probe-\(ProcessInfo.processInfo.processIdentifier)"
        guard FileManager.default.createFile(atPath: probe, contents: Data("probe".utf8)) else {
            throw AutotuneError(.backend, "--shared \(shared) is not writable from this host")
        }
        try? FileManager.default.removeItem(atPath: probe)
        guard hosts >= 1 else { throw AutotuneError(.backend, "--hosts \(hosts) must be at least 1") }
        self.shared = shared
        self.partition = partition
        self.hosts = hosts
        self.worker = worker
        self.attempts = attempts
        self.poll = poll
        self.log = log
    }

    /// The fixed task script: runs its arguments.
    static let taskScript =
        "#!/bin/sh\n# nkitune fleet task: runs the worker command given as arguments.\nexec \"$@\"\n"

    /// Submits the configurations as job arrays, round after round, until all are in `cache` or
    /// the attempts are spent; a stop cancels the array in flight. What was merged stays merged.
    public func evaluate(
        _ configurations: [Configuration], request: TuneRequest, scope: CacheScope, into cache: TimingCache,
        shouldStop: @escaping @Sendable () -> Bool
    ) throws(AutotuneError) -> [(configuration: Configuration, measurement: Measurement)] {
        var remaining = configurations
        var attempt = 0
        while !remaining.isEmpty && attempt < attempts && !shouldStop() {
            attempt += 1
            let round = try prepareRound(remaining, scope: scope)
            let tasks = min(hosts, remaining.count)
            let job = try submit(round: round, tasks: tasks)
            log("round \(round): \(remaining.count) variants on \(tasks) array tasks, job \(job)")
            wait(for: job, shouldStop: shouldStop)
            if let states = Self.accountedStates(job: job, round: round) {
                for (task, state) in states.sorted(by: { $0.key < $1.key }) where state != "COMPLETED" {
                    log("array task \(job)_\(task) ended \(state)")
                }
            }
            var merged = 0
            for index in 0..<tasks {
                let shard = FleetBatch.shard(round: round, index: index)
                guard FileManager.default.fileExists(atPath: shard) else { continue }
                merged += try cache.merge(shard: shard)
            }
            let stored = try cache.measurements(of: remaining.map(\.key), in: scope)
            remaining = remaining.filter { stored[$0.key] == nil }
            log("round \(round): \(merged) rows merged, \(remaining.count) variants left")
        }
        let stored = try cache.measurements(of: configurations.map(\.key), in: scope)
        return configurations.compactMap { configuration in
            stored[configuration.key].map { (configuration, $0.measurement) }
        }
    }

    /// Writes a new round's marker, batches (dealt round-robin) and task script; returns its directory.
    private func prepareRound(_ configurations: [Configuration], scope: CacheScope) throws(AutotuneError) -> String {
        let id = "\(Int(Date().timeIntervalSince1970))-\(UUID().uuidString.prefix(8).lowercased())"
        let round = "\(shared)/rounds/\(id)"
        let token = UUID().uuidString
        let tasks = min(hosts, configurations.count)
        do {
            try FileManager.default.createDirectory(atPath: round, withIntermediateDirectories: true)
            try Data((token + "\n").utf8).write(to: URL(fileURLWithPath: round + "/marker"), options: .atomic)
            for index in 0..<tasks {
                let keys = stride(from: index, to: configurations.count, by: tasks).map { configurations[$0].key }
                let batch = FleetBatch(
                    token: token, kernel: scope.kernel, problem: scope.problem, target: scope.target,
                    configurations: keys)
                try JSONEncoder().encode(batch).write(
                    to: URL(fileURLWithPath: FleetBatch.path(round: round, index: index)), options: .atomic)
            }
            try Data(Self.taskScript.utf8).write(to: URL(fileURLWithPath: round + "/task.sh"), options: .atomic)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: round + "/task.sh")
        } catch {
            throw AutotuneError(.backend, "cannot write the fleet round in \(round): \(error)")
        }
        return round
    }

    /// Submits the round as a job array; returns the job id.
    private func submit(round: String, tasks: Int) throws(AutotuneError) -> String {
        var arguments = ["--parsable", "--array=0-\(tasks - 1)", "--job-name=nkitune", "--output=\(round)/task-%a.log"]
        if let partition { arguments.append("--partition=\(partition)") }
        arguments += [round + "/task.sh"] + worker + ["--round", round]
        let log = round + "/sbatch.log"
        let outcome = ChildProcess.run("sbatch", arguments: arguments, log: log, timeLimit: .seconds(120))
        let said = ChildProcess.tail(of: log, lines: 3)
        guard outcome.succeeded, let first = said.split(separator: "\n").last,
            let id = first.split(separator: ";").first, Int(id) != nil
        else {
            throw AutotuneError(
                .backend, "sbatch \(outcome.summary): \(said.replacingOccurrences(of: "\n", with: " "))")
        }
        return String(id)
    }

    /// Waits until no task of `job` is queued or running (asking `squeue`, which answers with or
    /// without Slurm's accounting); cancels the job when `shouldStop` turns true.
    private func wait(for job: String, shouldStop: @escaping @Sendable () -> Bool) {
        while true {
            if shouldStop() {
                _ = ChildProcess.run(
                    "scancel", arguments: [job],
                    log: FileManager.default.temporaryDirectory.path + "/nkitune-scancel.log",
                    timeLimit: .seconds(60))
            }
            let log = FileManager.default.temporaryDirectory.path + "/nkitune-squeue-\(job).log"
            let outcome = ChildProcess.run(
                "squeue", arguments: ["-h", "-j", job, "-o", "%i|%T"], log: log, timeLimit: .seconds(60))
            let listed = ChildProcess.tail(of: log, lines: 1000).split(separator: "\n").filter {
                $0.hasPrefix(Substring(job))
            }
            try? FileManager.default.removeItem(atPath: log)
            // squeue fails for a job that left the queue on some versions; either way it is done.
            if listed.isEmpty || !outcome.succeeded { return }
            Thread.sleep(forTimeInterval: poll.seconds)
        }
    }

    /// Each array task's final state from `sacct`, or nil where Slurm keeps no accounting.
    static func accountedStates(job: String, round: String) -> [Int: String]? {
        let log = round + "/sacct.log"
        let outcome = ChildProcess.run(
            "sacct", arguments: ["-j", job, "-X", "-n", "-P", "-o", "JobID,State"], log: log, timeLimit: .seconds(60))
        guard outcome.succeeded else { return nil }
        var states: [Int: String] = [:]
        for line in ChildProcess.tail(of: log, lines: 10_000).split(separator: "\n") {
            let fields = line.split(separator: "|")
            guard fields.count == 2, let task = fields[0].split(separator: "_").last.flatMap({ Int($0) }) else {
                continue
            }
            states[task] = String(fields[1].split(separator: " ").first ?? fields[1])
        }
        return states
    }
}
