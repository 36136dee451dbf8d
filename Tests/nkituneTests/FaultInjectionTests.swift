import Autotune
import Foundation
import KernelSpace
import Testing

/// The command line as a careful user meets it: bad input, damaged or foreign caches, output that
/// cannot be written, signals and kills at several moments, concurrent writers and a full disk. Each
/// runs the real `nkitune` as a process.
@Suite(.serialized) struct FaultInjectionTests {
    static let problem = "M=640,K=2048,N=768"

    /// Expects a failure reported as one line on standard error containing `fragment`.
    func expectOneLineFailure(_ result: ProcessResult, _ fragment: String, _ comment: Comment? = nil) {
        #expect(result.status != 0 && !result.signalled, "\(comment ?? "") exit \(result.status)")
        #expect(!result.error.contains("Fatal error"), "\(comment ?? "") trapped: \(result.error)")
        let last = result.errorLines.last ?? ""
        #expect(last.hasPrefix("nkitune: ") && last.contains(fragment), "\(comment ?? ""): \(result.error)")
    }

    @Test func badInputGetsOneLineNamingTheBadValue() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let spaces: [String: String] = [
            "int-max": "parameters:\n  tile_n: {range: [1, 9223372036854775807]}",
            "huge-range": "parameters:\n  tile_n: {range: [1, 1000000000000], powers_of_two: true}",
            "min-over-minus-one": "restrictions:\n  - (0 - 9223372036854775807 - 1) / -1 > 0",
            "negate-min": "restrictions:\n  - -(0 - 9223372036854775807 - 1) > 0",
            "modulo": "restrictions:\n  - (0 - 9223372036854775807 - 1) % -1 == 0",
            "nested": "restrictions:\n  - \"" + String(repeating: "(", count: 100_000) + "1"
                + String(repeating: ")", count: 100_000) + "\"",
            "terms": "restrictions:\n  - " + Array(repeating: "tile_n", count: 50_000).joined(separator: " + "),
            "divide": "restrictions:\n  - tile_n / 0 > 1",
        ]
        for (name, body) in spaces {
            try FileManager.default.createDirectory(
                atPath: "\(directory)/\(name)", withIntermediateDirectories: true)
            try "version: 1\nkernel: linear\n\(body)\n".write(
                toFile: "\(directory)/\(name)/linear.yaml", atomically: true, encoding: .utf8)
        }
        let tune = ["tune", "linear", "--problem", Self.problem, "--cache", "c.sqlite", "--budget", "50"]
        let huge = "M=9223372036854775807,K=2048,N=768"
        let cases: [([String], String)] = [
            (tune + ["--jobs", "9223372036854775807"], "--jobs 9223372036854775807 must be between 1 and 256"),
            (tune + ["--verify", "9223372036854775807"], "--verify 9223372036854775807 must be between 0 and 1000"),
            (tune + ["--top", "0"], "--top 0 must be between 1 and 1000"),
            (tune + ["--top=-1"], "--top -1 must be between 1 and 1000"),
            (tune + ["--budget=-5"], "--budget -5 must be positive"),
            (["best", "linear", "--problem", Self.problem, "--limit", "0"], "--limit 0 must be between 1 and 1000"),
            (["tune", "linear", "--problem", huge], "M=9223372036854775807 is over the limit of 16777216"),
            (["explain", "linear", "--problem", huge], "M=9223372036854775807 is over the limit of 16777216"),
            (["kernels", "linear", "--problem", huge], "M=9223372036854775807 is over the limit of 16777216"),
            (["tune", "linear", "--problem", "M=1000000,K=1000000,N=1000000"], "is too large"),
            (["explain", "linear", "--problem", "M=1000000,K=1000000,N=1000000"], "is too large"),
            (["explain", "linear", "--problem", "M=60000,K=60000,N=60000"], "over the limit of 4,000,000"),
            (tune + ["--spaces", "missing"], "--spaces directory 'missing' does not exist"),
            (
                tune + ["--spaces", "int-max"],
                "range of tile_n ends at 9223372036854775807, over the limit of 16777216"
            ),
            (tune + ["--spaces", "huge-range"], "range of tile_n ends at 1000000000000, over the limit of 16777216"),
            (tune + ["--spaces", "min-over-minus-one"], "integer overflow in -9223372036854775808 / -1"),
            (tune + ["--spaces", "negate-min"], "integer overflow in -(-9223372036854775808)"),
            (tune + ["--spaces", "modulo"], "integer overflow in -9223372036854775808 % -1"),
            (tune + ["--spaces", "nested"], "over the limit of 1024"),
            (tune + ["--spaces", "terms"], "over the limit of 1024"),
            (tune + ["--spaces", "divide"], "restriction 'tile_n / 0 > 1' cannot be evaluated: division by zero"),
            (
                ["explain", "linear", "--problem", Self.problem, "--spaces", "divide"],
                "sampled of the 48988800 configurations of this space (the default: restriction 'tile_n / 0 > 1' "
                    + "cannot be evaluated: division by zero"
            ),
            (["tune", "matmul", "--problem", "M=1"], "The value 'matmul' is invalid for '<kernel>'"),
            (tune + ["--strategy", "greedy"], "The value 'greedy' is invalid for '--strategy <strategy>'"),
            // The neuron backend on a machine without NKI: refused at once, naming NKI and --python.
            (
                tune + ["--backend", "neuron", "--python", "python3"],
                "neuron backend: NKI is not importable by"
            ),
            (tune + ["--backend", "neuron", "--python", "/no/such/python"], "cannot run the Python interpreter"),
            (tune + ["--backend", "neuron", "--sdk", "2.26"], "The value '2.26' is invalid for '--sdk <sdk>'"),
            (tune + ["--backend", "neuron", "--cores", "3-1"], "The value '3-1' is invalid for '--cores <cores>'"),
            (["tune-model", "qwen3-30b-a3b", "--lnc", "4"], "--lnc 4 must be 1 or 2"),
            (["model", "qwen3-30b-a3b", "--target", "trn1", "--lnc", "2"], "a logical core of trn1 has one"),
            (
                ["best", "linear", "--problem", Self.problem, "--backend", "neuron", "--cache", "c.sqlite"],
                "no neuron measurements in c.sqlite"
            ),
        ]
        for (arguments, fragment) in cases {
            let result = try runTool(arguments, in: directory, seconds: 60)
            expectOneLineFailure(result, fragment, "\(arguments.suffix(2))")
            #expect(result.errorLines.filter { $0.hasPrefix("nkitune: ") }.count == 1)
            if arguments.contains("neuron") && arguments.contains("python3") {
                #expect(result.error.contains("--python"), "\(result.error)")
            }
        }
    }

    @Test func damagedForeignAndNewerCachesAreRefusedAndLeftAsTheyWere() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let setup = """
            import sqlite3
            c = sqlite3.connect('foreign.sqlite')
            c.execute('CREATE TABLE measurement (id INTEGER PRIMARY KEY, value REAL)')
            c.execute('INSERT INTO measurement (value) VALUES (1.5)')
            c.commit(); c.close()
            c = sqlite3.connect('empty-app.sqlite'); c.execute('PRAGMA application_id = 7'); c.commit(); c.close()
            """
        try setup.write(toFile: "\(directory)/setup.py", atomically: true, encoding: .utf8)
        #expect(try runShell("python3 setup.py", in: directory).status == 0)
        let made = try runTool(
            ["tune", "linear", "--problem", Self.problem, "--budget", "5", "--verify", "0", "--cache", "newer.sqlite"],
            in: directory)
        #expect(made.status == 0)
        // Schema version 99 in the header (user_version, bytes 60-63), as a newer nkitune would write.
        var newer = fileBytes("\(directory)/newer.sqlite")
        newer.replaceSubrange(60..<64, with: [0, 0, 0, 99])
        try newer.write(to: URL(fileURLWithPath: "\(directory)/newer.sqlite"))
        var corrupt = Data("SQLite format 3\0".utf8)
        corrupt.append(Data((0..<4080).map { UInt8(truncatingIfNeeded: $0 &* 7919) }))
        try corrupt.write(to: URL(fileURLWithPath: "\(directory)/corrupt.sqlite"))
        try Data("not a database\n".utf8).write(to: URL(fileURLWithPath: "\(directory)/text.sqlite"))
        let cases: [(String, String)] = [
            ("foreign.sqlite", "is an SQLite database that is not an nkitune cache (tables measurement)"),
            ("empty-app.sqlite", "is an SQLite database of another application (id 0x00000007)"),
            ("newer.sqlite", "has schema version 99, newer than this nkitune's 7"),
            ("corrupt.sqlite", "corrupt.sqlite"),
            ("text.sqlite", "is not an SQLite database; it was left untouched"),
        ]
        for (file, fragment) in cases {
            let before = fileBytes("\(directory)/\(file)")
            for command in [["best"], ["tune"], ["emit"]] {
                let result = try runTool(
                    command
                        + ["linear", "--problem", Self.problem, "--cache", file, "--budget", "5"].filter {
                            command != ["best"] && command != ["emit"] || ($0 != "--budget" && $0 != "5")
                        }, in: directory)
                expectOneLineFailure(result, fragment, "\(command) \(file)")
                #expect(fileBytes("\(directory)/\(file)") == before, "\(command) changed \(file)")
            }
            #expect(!FileManager.default.fileExists(atPath: "\(directory)/\(file)-wal"), "\(file) got a WAL file")
        }
    }

    @Test func aHeldLockIsAnnouncedAndTimesOutInOneLine() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(
            try runTool(
                ["tune", "linear", "--problem", Self.problem, "--budget", "5", "--cache", "c.sqlite"],
                in: directory
            ).status == 0)
        let holder = """
            import sqlite3, time
            c = sqlite3.connect('c.sqlite', isolation_level=None)
            c.execute('BEGIN EXCLUSIVE')
            open('held', 'w').close()
            time.sleep(8)
            """
        try holder.write(toFile: "\(directory)/hold.py", atomically: true, encoding: .utf8)
        let holding = try RunningProcess("/usr/bin/env", ["python3", "hold.py"], in: directory)
        defer { holding.signal(SIGKILL) }
        while !FileManager.default.fileExists(atPath: "\(directory)/held") { Thread.sleep(forTimeInterval: 0.05) }
        let result = try runTool(
            [
                "tune", "linear", "--problem", Self.problem, "--budget", "5", "--cache", "c.sqlite", "--lock-timeout",
                "1",
            ],
            in: directory)
        #expect(result.error.contains("c.sqlite is locked by another process; waiting up to 1 s for it"))
        expectOneLineFailure(result, "locked by another process; gave up after 1 s (see --lock-timeout)")
    }

    @Test func readOnlyCachesAreReadAndOutputsNeverReplaceWhatIsNotOurs() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let base = ["linear", "--problem", Self.problem, "--cache", "c.sqlite"]
        #expect(try runTool(["tune"] + base + ["--budget", "40", "--verify", "1"], in: directory).status == 0)
        let cache = "\(directory)/c.sqlite"
        let before = fileBytes(cache)
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: cache)
        let best = try runTool(["best"] + base, in: directory)
        #expect(best.status == 0 && best.output.contains("40 ok, "), "\(best.output)")
        #expect(try runTool(["emit"] + base, in: directory).status == 0)
        #expect(fileBytes(cache) == before)
        expectOneLineFailure(
            try runTool(["emit"] + base + ["--out", "c.sqlite"], in: directory), "it is the timing cache")
        expectOneLineFailure(
            try runTool(["explain"] + base + ["--svg", "c.sqlite"], in: directory), "it is the timing cache")
        #expect(fileBytes(cache) == before)
        expectOneLineFailure(
            try runTool(["emit"] + base + ["--out", "/dev/stdout"], in: directory), "is not a regular file")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: "/dev/stdout")) != nil)
        try Data("notes\n".utf8).write(to: URL(fileURLWithPath: "\(directory)/notes.txt"))
        expectOneLineFailure(
            try runTool(["emit"] + base + ["--out", "notes.txt"], in: directory), "nkitune did not write it")
        #expect(fileBytes("\(directory)/notes.txt") == Data("notes\n".utf8))
        #expect(try runTool(["emit"] + base + ["--out", "k.py"], in: directory).status == 0)
        #expect(try runTool(["emit"] + base + ["--out", "k.py"], in: directory).status == 0)
        let full = try runShell(
            "'\(nkituneExecutable ?? "")' emit \(base.joined(separator: " ")) > /dev/full", in: directory)
        expectOneLineFailure(full, "cannot write standard output")
        for redirect in ["2>&-", "2>/dev/full"] {
            let closed = try runShell(
                "'\(nkituneExecutable ?? "")' tune matmul --problem M=1 \(redirect); echo status=$?", in: directory)
            #expect(closed.output.contains("status=64"), "\(redirect): \(closed.output)")
            let fine = try runShell(
                "'\(nkituneExecutable ?? "")' best \(base.joined(separator: " ")) \(redirect); echo status=$?",
                in: directory)
            #expect(fine.output.contains("status=0"), "\(redirect): \(fine.output)")
        }
    }

    /// Issue: `tune --exact` or a narrowed space marked correct cached variants failed.
    @Test func narrowerRunsNeverFalsifyWhatTheyDidNotRun() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: "\(directory)/narrow", withIntermediateDirectories: true)
        try "version: 1\nkernel: linear\nparameters:\n  tile_n: [128]\n".write(
            toFile: "\(directory)/narrow/linear.yaml", atomically: true, encoding: .utf8)
        let base = ["linear", "--problem", Self.problem, "--cache", "c.sqlite"]
        #expect(try runTool(["tune"] + base + ["--budget", "300", "--verify", "0"], in: directory).status == 0)
        let before = try runTool(["best"] + base + ["--limit", "5"], in: directory)
        #expect(before.output.contains(", 0 failed"))
        let exact = try runTool(["tune"] + base + ["--budget", "300", "--exact"], in: directory)
        #expect(exact.status == 0, "\(exact.error)")
        let narrow = try runTool(["tune"] + base + ["--budget", "50", "--spaces", "narrow"], in: directory)
        #expect(narrow.status == 0, "\(narrow.error)")
        #expect(narrow.output.contains("outside this space not checked"))
        let after = try runTool(["best"] + base + ["--limit", "20"], in: directory)
        #expect(after.output.contains(", 0 failed"), "\(after.output)")
        // The exact run measured new variants, so the table grew; every earlier row is still there.
        let rows = { (text: String) in
            text.split(separator: "\n").dropFirst(3).map { $0.split(separator: " ").last ?? "" }
        }
        #expect(Set(rows(before.output)).isSubset(of: Set(rows(after.output))))
    }

    /// Ctrl-C and kill -9 at several moments: the database stays intact and the same command
    /// again ends where an uninterrupted run ends.
    @Test(arguments: [SIGINT, SIGKILL])
    func signalsAtSeveralMomentsLoseNothing(signal: Int32) throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let executable = try #require(nkituneExecutable)
        func tune(_ cache: String) -> [String] {
            [
                "tune", "linear", "--problem", Self.problem, "--strategy", "random", "--budget", "800", "--verify", "3",
                "--cache", cache,
            ]
        }
        func best(_ cache: String) throws -> String {
            try runTool(["best", "linear", "--problem", Self.problem, "--cache", cache, "--limit", "5"], in: directory)
                .output.replacingOccurrences(of: cache, with: "CACHE")
        }
        #expect(try runTool(tune("whole.sqlite"), in: directory).status == 0)
        let expected = try best("whole.sqlite")
        for (index, delay) in [0.05, 0.4, 0.9, 1.5].enumerated() {
            let cache = "cut\(index).sqlite"
            let cut = try RunningProcess(executable, tune(cache), in: directory).signal(signal, afterStartBy: delay)
            if signal == SIGINT {
                #expect(!cut.signalled && [0, 130].contains(cut.status), "after \(delay) s: \(cut.status)")
                if cut.status == 130 { #expect(cut.output.contains("interrupted: every finished variant is saved")) }
            }
            let resumed = try runTool(tune(cache), in: directory)
            #expect(resumed.status == 0, "resume after \(delay) s: \(resumed.error)")
            #expect(try best(cache) == expected, "after a signal at \(delay) s")
        }
    }

    @Test func concurrentWritersEndWithTheUnionOfTheirRows() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let executable = try #require(nkituneExecutable)
        let runs = try [1, 2, 3].map { seed in
            try RunningProcess(
                executable,
                [
                    "tune", "linear", "--problem", Self.problem, "--budget", "400", "--seed", "\(seed)", "--cache",
                    "c.sqlite", "--strategy", "random",
                    "--jobs", "1",
                ], in: directory)
        }
        for run in runs {
            let result = run.wait()
            #expect(result.status == 0, "\(result.error)")
        }
        let template = LinearTemplate()
        let problem = try template.parseProblem(Self.problem)
        var union = Set<String>()
        for seed: UInt64 in [1, 2, 3] {
            union.formUnion(
                Strategy.random.candidates(in: SearchSpace(template), for: problem, budget: 400, seed: seed).map(\.key))
        }
        let scope = CacheScope(
            kernel: "linear", problem: problem.key, target: "trn2", backend: "model",
            toolchain: ModelBackend().toolchain)
        #expect(try TimingCache(path: "\(directory)/c.sqlite", mode: .readOnly).configurations(in: scope) == union)
    }

    @Test func aFullDiskKeepsFinishedVariants() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let probe = try runShell("unshare -m true", in: directory)
        guard probe.status == 0 else {
            print("skipped: no private mount namespace here (needs root and unshare): \(probe.error)")
            return
        }
        let executable = try #require(nkituneExecutable)
        let tune =
            "'\(executable)' tune linear --problem \(Self.problem) --budget 3000 --verify 0 --cache disk/c.sqlite"
        let best = "'\(executable)' best linear --problem \(Self.problem) --cache disk/c.sqlite --limit 1"
        let script = """
            mkdir -p disk && mount -t tmpfs -o size=640k none disk || exit 99
            \(tune) 2>tune.err; echo "tune=$?"; tail -n 1 tune.err
            \(best) 2>&1; echo "best=$?"
            """
        let result = try runShell(
            "unshare -m sh -c '\(script.replacingOccurrences(of: "'", with: "'\\''"))'", in: directory)
        #expect(result.status == 0, "\(result.output) \(result.error)")
        #expect(result.output.contains("tune=1"), "\(result.output)")
        #expect(result.output.contains("nkitune: cache disk/c.sqlite"), "\(result.output)")
        #expect(result.output.contains("best=0"), "\(result.output)")
        let okCount = result.output.split(separator: "\n").first { $0.contains(" ok, ") }.flatMap {
            Int($0.split(separator: ": ").last?.split(separator: " ").first ?? "")
        }
        #expect((okCount ?? 0) > 0, "no finished variant survived: \(result.output)")
    }
}
