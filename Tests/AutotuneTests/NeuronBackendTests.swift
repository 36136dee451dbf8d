import CostModel
import Foundation
import KernelSpace
import Testing

@testable import Autotune

/// The neuron backend without Trainium: the harness in `--dry-run` (python3 and numpy), the `.npy`
/// files against numpy, and the driver with a stand-in interpreter that misbehaves on purpose.
@Suite struct NeuronBackendTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    let template = LinearTemplate()

    /// Runs python3 with `arguments`; its exit status and output.
    static func python(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    func request(budget: Int, problem: String = "M=128,K=256,N=512") throws -> TuneRequest {
        TuneRequest(
            space: SearchSpace(template), problem: try template.parseProblem(problem), target: .trn2,
            strategy: .random, budget: budget, seed: 3, jobs: 2, verify: 0)
    }

    // MARK: .npy

    @Test func npyFilesRoundTripThroughNumpy() throws {
        let directory = temporaryPath("npy")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let tensor = HostTensor(shape: [2, 3, 4], data: (0..<24).map { Float($0) * 0.75 - 7.5 })
        let indices = HostTensor(shape: [5], data: [0, 3, -2, 127, 64])
        try NPYFile.write(tensor, as: .bf16, to: directory + "/t.npy")
        try NPYFile.write(indices, as: .int32, to: directory + "/i.npy")
        // numpy reads what nkitune wrote, and writes what nkitune must read.
        let script = """
            import numpy as np, sys
            d = sys.argv[1]
            t = np.load(d + '/t.npy'); i = np.load(d + '/i.npy')
            assert t.dtype == np.float32 and t.shape == (2, 3, 4), (t.dtype, t.shape)
            assert np.array_equal(t.ravel(), np.arange(24, dtype=np.float32) * 0.75 - 7.5)
            assert i.dtype == np.int32 and i.tolist() == [0, 3, -2, 127, 64], i
            np.save(d + '/f8.npy', np.linspace(-1, 1, 12).reshape(3, 4))
            np.save(d + '/i8.npy', np.array([[1, -5], [7, 2**40]], dtype=np.int64))
            np.save(d + '/f4.npy', np.array([1.5, -2.25, 3e-8], dtype=np.float32))
            np.save(d + '/scalar.npy', np.float32(4.0))
            print('ok')
            """
        let result = try Self.python(["-c", script, directory])
        #expect(result.status == 0 && result.output.contains("ok"), "\(result.output)")
        let f8 = try NPYFile.read(directory + "/f8.npy")
        #expect(f8.shape == [3, 4])
        #expect(abs(f8.data[11] - 1) < 1e-6 && abs(f8.data[0] + 1) < 1e-6)
        let i8 = try NPYFile.read(directory + "/i8.npy")
        #expect(i8.shape == [2, 2] && i8.data[1] == -5 && i8.data[3] == Float(1 << 40))
        #expect(try NPYFile.read(directory + "/f4.npy").data == [1.5, -2.25, 3e-8])
        #expect(try NPYFile.read(directory + "/scalar.npy") == HostTensor(shape: [], data: [4]))
        #expect(try NPYFile.read(directory + "/t.npy") == tensor)
    }

    @Test func aMalformedNpyFileIsOneLineNamingIt() throws {
        var data = NPYFile.encode(HostTensor(shape: [2, 2], data: [1, 2, 3, 4]), as: .fp32)
        data.removeLast(3)
        #expect(throws: NPYFile.FormatError.self) { try NPYFile.decode(data, name: "short.npy") }
        do {
            _ = try NPYFile.decode(data, name: "short.npy")
        } catch {
            #expect(
                error.description == "short.npy: not a tensor nkitune reads (13 data bytes for shape (2, 2) of <f4)")
        }
        var header = NPYFile.encode(HostTensor(shape: [1], data: [1]), as: .fp32)
        header.replaceSubrange(20..<23, with: Array("<c8".utf8))
        #expect(throws: NPYFile.FormatError.self) { try NPYFile.decode(header, name: "complex.npy") }
        #expect(throws: NPYFile.FormatError.self) { try NPYFile.decode(Data("hello".utf8), name: "text.npy") }
    }

    // MARK: the harness, dry run

    @Test func aDryRunTunesThroughTheHarness() throws {
        let work = temporaryPath("neuron")
        let backend = try NeuronBackend.start(
            NeuronOptions(
                python: "python3", cores: [0, 1], compileJobs: 2, warmup: 1, iterations: 3, workDirectory: work,
                dryRun: true))
        #expect(backend.measureSlots == 2)
        #expect(
            backend.toolchain.hasPrefix("neuron sdk=2.27 harness=2 ") && backend.toolchain.hasSuffix("lnc=1 dry-run"))
        let cache = try TimingCache(path: temporaryPath("cache.sqlite"))
        let summary = try Driver(backend: backend, cache: cache).tune(try request(budget: 6))
        #expect(summary.evaluated[.ok, default: 0] == 6, "\(summary.evaluated)")
        let scope = Driver(backend: backend, cache: cache).scope(for: try request(budget: 6))
        let best = try cache.best(in: scope, limit: 10)
        // The harness's stand-in timings of 3 iterations: 1, 2 and 3 us; the median is stored.
        #expect(best.count == 6 && best.allSatisfy { $0.measurement.latency == 2000 && $0.measurement.samples == 3 })
        // Every variant has its kernel, job and compile result; the job's inputs load in numpy with
        // the program's shapes.
        let variants = try FileManager.default.contentsOfDirectory(atPath: work + "/variants")
        #expect(variants.count == 6)
        let job = work + "/variants/" + variants[0] + "/job.json"
        let check = try Self.python([
            "-c",
            """
            import json, numpy as np, sys
            job = json.load(open(sys.argv[1]))
            for entry in job['inputs']:
                print(entry['name'], np.load(entry['file']).shape)
            for entry in job['outputs']:
                assert np.load(entry['expected']).shape == tuple(entry['shape'])
            print(json.load(open(sys.argv[1].replace('job.json', 'compile.json')))['status'])
            """, job,
        ])
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("dry-run"), "\(check.output)")
        #expect(check.output.contains("(128, 256)") || check.output.contains("(256, 128)"), "\(check.output)")
    }

    @Test func theHarnessComparesOutputsWithinToleranceOrBitForBit() throws {
        let directory = temporaryPath("job")
        try FileManager.default.createDirectory(atPath: directory + "/got", withIntermediateDirectories: true)
        let harness = try NeuronHarness.install(in: directory, python: "python3", dryRun: true)
        let expected = HostTensor(shape: [2, 3], data: [1, -2, 3, 0.5, 0.25, 4])
        try NPYFile.write(expected, as: .fp32, to: directory + "/out.npy")
        try NPYFile.write(HostTensor(shape: [2, 2], data: [1, 2, 3, 4]), as: .bf16, to: directory + "/x.npy")
        func job(exact: Bool) throws -> String {
            let job = NeuronJob(
                kernelFile: "kernel.py", function: "kernel", target: "trn2", lnc: 1, cores: 1,
                inputs: [NeuronJob.Input(name: "x", file: "x.npy", dtype: "float32")],
                outputs: [NeuronJob.Output(name: "out", shape: [2, 3], dtype: "float32", expected: "out.npy")],
                tolerance: 0.02, exact: exact, warmup: 1, iterations: 4)
            let path = directory + (exact ? "/exact.json" : "/job.json")
            try JSONEncoder().encode(job).write(to: URL(fileURLWithPath: path))
            return path
        }
        func run(_ job: String, got: HostTensor) throws -> HarnessResult? {
            try NPYFile.write(got, as: .fp32, to: directory + "/got/out.npy")
            return harness.run(
                "run", [job, "--outputs-from", directory + "/got"], out: directory + "/r.json",
                log: directory + "/r.log", timeLimit: .seconds(60)
            ).result
        }
        var close = expected
        close.data[5] += 0.04  // 1% of the largest magnitude
        var far = expected
        far.data[2] = -3
        var ulp = expected
        ulp.data[0] = Float(bitPattern: ulp.data[0].bitPattern + 1)
        let tolerant = try job(exact: false)
        let exact = try job(exact: true)
        #expect(try run(tolerant, got: close)?.status == "ok")
        let wrong = try run(tolerant, got: far)
        #expect(wrong?.status == "wrong_answer")
        #expect(
            wrong?.message?.contains("relative error 1.5 exceeds 0.02") == true, "\(String(describing: wrong?.message))"
        )
        #expect(try run(exact, got: expected)?.status == "ok")
        let notExact = try run(exact, got: ulp)
        #expect(notExact?.message == "output out differs bit for bit at element 0")
        #expect(
            try run(tolerant, got: HostTensor(shape: [3, 2], data: expected.data))?.message?.contains("shape") == true)
        #expect(try run(tolerant, got: close)?.latency?.samples == 4)
        // A job of another format: exit status 2, one line naming it.
        try Data(#"{"format": 2}"#.utf8).write(to: URL(fileURLWithPath: directory + "/bad.json"))
        let bad = harness.run(
            "run", [directory + "/bad.json"], out: directory + "/b.json", log: directory + "/b.log",
            timeLimit: .seconds(60))
        #expect(bad.outcome == .exited(2))
        #expect(bad.logTail.contains("bad.json has format 2; this harness reads 1"), "\(bad.logTail)")
    }

    @Test func withoutNKITheBackendRefusesInOneLineNamingIt() throws {
        let work = temporaryPath("neuron")
        do {
            _ = try NeuronBackend.start(NeuronOptions(python: "python3", workDirectory: work))
            Issue.record("the neuron backend started without NKI")
        } catch {
            #expect(error.kind == .backend)
            #expect(error.message.contains("NKI is not importable by"), "\(error.message)")
            #expect(error.message.contains("--python"), "\(error.message)")
            #expect(!error.message.contains("\n"))
        }
    }

    @Test func slotsPairCoresAtLNC2() throws {
        #expect(try NeuronBackend.slots([3, 1, 2, 0], lnc: 1) == ["0", "1", "2", "3"])
        #expect(try NeuronBackend.slots([0, 1, 2, 3, 6, 7], lnc: 2) == ["0", "1", "3"])
        #expect(throws: AutotuneError.self) { try NeuronBackend.slots([0, 1, 2], lnc: 2) }
        #expect(throws: AutotuneError.self) { try NeuronBackend.slots([1, 2], lnc: 2) }
        #expect(throws: AutotuneError.self) { try NeuronBackend.slots([], lnc: 1) }
    }

    // MARK: processes that misbehave

    /// A neuron backend whose "Python" is the misbehaving stand-in, with short time limits.
    func misbehaving(work: String, marker: String, unhealthy: Bool = false) throws -> NeuronBackend {
        // The stand-in reads its marker and health from the work directory.
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try "\(marker)\n\(unhealthy ? "unhealthy" : "healthy")\n".write(
            toFile: work + "/misbehaviour", atomically: true, encoding: .utf8)
        return try NeuronBackend.start(
            NeuronOptions(
                python: Self.fixtures.appendingPathComponent("misbehaving-python.sh").path, cores: [0, 1],
                compileJobs: 3, compileTimeLimit: .seconds(3), measureTimeLimit: .seconds(3), workDirectory: work,
                dryRun: true))
    }

    /// Processes whose command line holds `marker`.
    static func survivors(_ marker: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { $0.first?.isNumber == true }.compactMap { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let line = String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\0", with: " ")
            return line.contains(marker) ? "\(pid): \(line)" : nil
        }
    }

    @Test(.serialized, arguments: [false, true])
    func everyFailureIsRecordedByClassAndNothingOutlivesItsRun(unhealthy: Bool) throws {
        let marker = "nkitune-test-\(UUID().uuidString.prefix(8))"
        let backend = try misbehaving(work: temporaryPath("neuron"), marker: marker, unhealthy: unhealthy)
        let cache = try TimingCache(path: temporaryPath("cache.sqlite"))
        let driver = Driver(backend: backend, cache: cache)
        let request = try request(budget: 28)
        var thrown: AutotuneError?
        do {
            _ = try driver.tune(request)
        } catch {
            thrown = error
        }
        let stored = try cache.best(in: driver.scope(for: request), limit: 100)
        let all = try cache.configurations(in: driver.scope(for: request))
        let reasons = try cache.measurements(of: Array(all), in: driver.scope(for: request)).values.compactMap {
            $0.measurement.reason
        }
        func count(_ prefix: String) -> Int { reasons.filter { $0.hasPrefix(prefix) }.count }
        if unhealthy {
            // Both cores fail their check after the first crash, time-out or runtime error: the run
            // stops with one line, and what it measured is in the cache.
            #expect(thrown?.kind == .backend)
            #expect(
                thrown?.message.contains("every measure slot failed its check") == true, "\(String(describing: thrown))"
            )
            #expect(!all.isEmpty && all.count < 28)
        } else {
            #expect(thrown == nil, "\(String(describing: thrown))")
            #expect(all.count == 28)
            for prefix in [
                "time-out: compile", "compile error", "crash: the run was killed by signal 11",
                "harness error: the run's result is not readable", "wrong answer", "runtime error",
            ] {
                #expect(count(prefix) > 0, "no \(prefix) among \(Set(reasons.map { String($0.prefix(30)) }))")
            }
            #expect(stored.allSatisfy { $0.measurement.latency == 2000 })
            #expect(!stored.isEmpty)
            #expect(reasons.filter { $0.hasPrefix("time-out") }.allSatisfy { $0.contains("compiling for ever") })
        }
        // A time-out killed its whole process group, and the children a run left behind went
        // with it.
        #expect(Self.survivors(marker).isEmpty, "left behind: \(Self.survivors(marker))")
    }
}
