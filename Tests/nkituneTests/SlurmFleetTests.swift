import Foundation
import Testing

/// A one-node Slurm cluster on loopback ports, with its state in a temporary directory.
final class SlurmCluster {
    static var available: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/sbin/slurmctld")
            && FileManager.default.isExecutableFile(atPath: "/usr/sbin/slurmd")
    }

    let directory: String
    let configuration: String

    init() throws {
        directory = try scratchDirectory()
        configuration = directory + "/slurm.conf"
        let host = try runShell("hostname -s", in: directory).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let port = Int.random(in: 20_000..<40_000)
        let text = """
            ClusterName=nkitune
            SlurmctldHost=\(host)(127.0.0.1)
            SlurmctldPort=\(port)
            SlurmdPort=\(port + 1)
            AuthType=auth/none
            CredType=cred/none
            SlurmUser=root
            SlurmdUser=root
            StateSaveLocation=\(directory)/state
            SlurmdSpoolDir=\(directory)/spool
            SlurmctldPidFile=\(directory)/slurmctld.pid
            SlurmdPidFile=\(directory)/slurmd.pid
            SlurmctldLogFile=\(directory)/slurmctld.log
            SlurmdLogFile=\(directory)/slurmd.log
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_Core
            MpiDefault=none
            ReturnToService=2
            JobCompType=jobcomp/none
            AccountingStorageType=accounting_storage/none
            NodeName=\(host) NodeAddr=127.0.0.1 CPUs=\(ProcessInfo.processInfo.activeProcessorCount) State=UNKNOWN
            PartitionName=nkitune Nodes=\(host) Default=YES MaxTime=INFINITE State=UP

            """
        for folder in ["state", "spool"] {
            try FileManager.default.createDirectory(atPath: "\(directory)/\(folder)", withIntermediateDirectories: true)
        }
        try text.write(toFile: configuration, atomically: true, encoding: .utf8)
        // Started as daemons (they detach and write their pid files), the controller first.
        for daemon in ["/usr/sbin/slurmctld", "/usr/sbin/slurmd"] {
            let started = try runShell("\(daemon) -f \(configuration)", in: directory)
            guard started.status == 0 else {
                throw SlurmError(description: "\(daemon) did not start: \(started.error)")
            }
        }
    }

    struct SlurmError: Error, CustomStringConvertible {
        var description: String
    }

    deinit { stop() }

    /// Cancels what the cluster still runs and stops both daemons (waiting until they are gone).
    func stop() {
        _ = try? shell("scancel --user=root")
        for name in ["slurmd", "slurmctld"] {
            _ = try? runShell(
                "p=$(cat \(directory)/\(name).pid 2>/dev/null) && kill $p && "
                    + "for i in $(seq 50); do kill -0 $p 2>/dev/null || break; sleep 0.1; done", in: directory)
        }
    }

    /// Runs a shell command with this cluster's configuration.
    func shell(_ command: String) throws -> ProcessResult {
        try runShell("SLURM_CONF=\(configuration) \(command)", in: directory)
    }

    /// Waits (up to 60 s) until the node takes jobs.
    func waitUntilIdle() throws -> Bool {
        for _ in 0..<120 {
            if try shell("sinfo -h -o %T").output.contains("idle") { return true }
            Thread.sleep(forTimeInterval: 0.5)
        }
        return false
    }
}

/// A fleet tune through a real Slurm (Debian's slurm-wlm, which `.ci/run` installs).
@Suite(.serialized, .enabled(if: SlurmCluster.available, "Slurm (slurmctld, slurmd) is not installed"))
struct SlurmFleetTests {
    static let problem = "M=128,K=256,N=512"

    func tune(_ extra: [String], cache: String, in directory: String) -> [String] {
        [
            "tune", "linear", "--problem", Self.problem, "--strategy", "random", "--budget", "24", "--verify", "0",
            "--cache", cache,
        ] + extra
    }

    /// Configuration -> latency of every ok row, read with python3's sqlite3.
    func rows(_ cache: String, in directory: String) throws -> [String: String] {
        let result = try runShell(
            "python3 -c \"import sqlite3; [print(r[0] + ' ' + str(r[1])) for r in sqlite3.connect('\(cache)').execute("
                + "'SELECT config, latency_ns FROM measurement')]\"", in: directory)
        return Dictionary(
            result.output.split(separator: "\n").map { line in
                let parts = line.split(separator: " ")
                return (String(parts[0]), String(parts.dropFirst().joined()))
            }, uniquingKeysWith: { first, _ in first })
    }

    @Test func aFleetTuneMeasuresWhatALocalTuneDoesAndACancelledTaskLosesNothing() throws {
        let tool = try #require(nkituneExecutable)
        let cluster = try SlurmCluster()
        defer { cluster.stop() }
        #expect(try cluster.waitUntilIdle(), "the one-node cluster did not come up")
        let directory = cluster.directory
        try FileManager.default.createDirectory(atPath: directory + "/shared", withIntermediateDirectories: true)
        let local = try runTool(tune([], cache: "local.sqlite", in: directory), in: directory)
        #expect(local.status == 0, "\(local.error)")
        let expected = try rows("local.sqlite", in: directory)
        #expect(expected.count == 24)

        // The same tune through Slurm: two array tasks per round.
        let fleetArguments = ["--slurm", "--hosts", "2", "--shared", directory + "/shared"]
        let environment = "SLURM_CONF=\(cluster.configuration)"
        let fleet = try runShell(
            environment + " "
                + ([tool] + tune(fleetArguments, cache: "fleet.sqlite", in: directory)).joined(
                    separator: " "), in: directory)
        #expect(fleet.status == 0, "\(fleet.error)")
        #expect(try rows("fleet.sqlite", in: directory) == expected)

        // Again with workers that pause after each variant; cancel task 1 of the first array
        // part-way: the run must finish with the same rows, each variant measured once.
        let slow = try RunningProcess(
            "/usr/bin/env",
            ["SLURM_CONF=\(cluster.configuration)", "NKITUNE_TEST_WORKER_PAUSE=0.5", tool]
                + tune(fleetArguments, cache: "cancelled.sqlite", in: directory), in: directory)
        var cancelled = false
        var queue = ""
        for _ in 0..<60 where !cancelled {
            Thread.sleep(forTimeInterval: 0.5)
            queue = try cluster.shell("squeue -h -o '%i %T'").output
            guard let line = queue.split(separator: "\n").first(where: { $0.contains("_1 RUNNING") }) else { continue }
            Thread.sleep(forTimeInterval: 2)
            let task = String(line.split(separator: " ")[0])
            cancelled = try cluster.shell("scancel \(task)").status == 0
        }
        #expect(cancelled, "no running array task to cancel; the queue said: \(queue)")
        let finished = slow.wait(seconds: 300)
        #expect(finished.status == 0, "\(finished.error)")
        let error = finished.error
        #expect(try rows("cancelled.sqlite", in: directory) == expected, "\(error)")
        // The cancelled task's leftovers went out again in a second round.
        #expect(error.components(separatedBy: "array tasks, job").count - 1 >= 2, "\(error)")
        // Every shard of every round together holds each variant once: nothing measured twice.
        let shards = try runShell(
            "for f in shared/rounds/*/shard-*.sqlite; do python3 -c \"import sqlite3,sys; "
                + "[print(r[0]) for r in sqlite3.connect(sys.argv[1]).execute('SELECT config FROM measurement')]\" $f; done",
            in: directory
        ).output.split(separator: "\n")
        let fromCancelledRun = shards.count - 24  // the first fleet run's shards hold the 24 too
        #expect(fromCancelledRun == 24, "shards hold \(shards.count) rows over two runs")
        // Merging a shard again changes nothing.
        let again = try runShell(
            tool + " cache merge --cache cancelled.sqlite shared/rounds/*/shard-*.sqlite", in: directory)
        #expect(again.status == 0 && again.output.contains("0 rows merged"), "\(again.output) \(again.error)")
    }
}
