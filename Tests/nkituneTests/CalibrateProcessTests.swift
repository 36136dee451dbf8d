import Autotune
import CostModel
import Foundation
import KernelSpace
import Testing

/// `nkitune calibrate` against measurements a "neuron" backend left in a cache (made here by a
/// perturbed performance model), and the calibrated target used by `tune` and `best`.
@Suite struct CalibrateProcessTests {
    /// Stores 12 linear variants timed on trn2 with a smaller DMA queue overlap, as backend `neuron`.
    static func writeHardwareRows(to path: String) throws {
        let cache = try TimingCache(path: path)
        let template = LinearTemplate()
        let problem = try template.parseProblem("M=640,K=2048,N=768")
        let space = SearchSpace(template)
        let hardware = Target.trn2.applying([.dmaQueueOverlap: 1.3])
        var rows: [(configuration: String, measurement: Autotune.Measurement)] = []
        for configuration in Strategy.random.candidates(in: space, for: problem, budget: 60, seed: 3) {
            let program = template.program(for: problem, configuration: configuration)
            guard ResourceCheck.violation(of: program, limits: Target.trn2.limits) == nil, rows.count < 12 else {
                continue
            }
            let latency = Timeline.simulate(program, on: hardware).latency
            rows.append(
                (
                    configuration.key,
                    Autotune.Measurement(
                        status: .ok, latency: latency, latencyMin: latency, latencyMax: latency, samples: 10,
                        busy: [:], metrics: [:], compileSeconds: 1, measureSeconds: 1)
                ))
        }
        try cache.insert(
            rows,
            in: CacheScope(
                kernel: "linear", problem: problem.key, target: "trn2", backend: "neuron",
                toolchain: "neuronx-cc 2.99 (test)"))
    }

    @Test func calibrateStoresATargetThatTuneAndBestKeepApart() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.writeHardwareRows(to: "\(directory)/c.sqlite")
        let fitted = try runTool(["calibrate", "--cache", "c.sqlite"], in: directory)
        #expect(fitted.status == 0, "\(fitted.error)")
        #expect(fitted.output.contains("calibrated (leave-one-out)"), "\(fitted.output)")
        #expect(fitted.output.contains("stored as 'trn2-neuron'"), "\(fitted.output)")
        let stored = try #require(try TimingCache(path: "\(directory)/c.sqlite", mode: .readOnly).calibrations().first)
        #expect(stored.name == "trn2-neuron" && stored.samples == 12 && stored.rmsAfter < stored.rmsBefore)

        let problem = ["linear", "--problem", "M=640,K=2048,N=768", "--cache", "c.sqlite"]
        let tune = ["tune"] + problem + ["--budget", "12", "--verify", "0"]
        #expect(try runTool(tune + ["--calibration", "trn2-neuron"], in: directory).status == 0)
        // Calibrated timings are a toolchain of their own: the documented model has none yet.
        let documented = try runTool(["best"] + problem, in: directory)
        #expect(documented.output.contains(": 0 ok"), "\(documented.output)")
        let calibrated = try runTool(["best"] + problem + ["--calibration", "trn2-neuron"], in: directory)
        #expect(calibrated.output.contains(": 12 ok"), "\(calibrated.output)")

        let unknown = try runTool(tune + ["--calibration", "nope"], in: directory)
        #expect(unknown.status != 0 && unknown.error.contains("no calibration 'nope'"), "\(unknown.error)")
        let otherTarget = try runTool(tune + ["--calibration", "trn2-neuron", "--target", "trn1"], in: directory)
        #expect(otherTarget.error.contains("is for trn2, not trn1"), "\(otherTarget.error)")
        let badName = try runTool(["calibrate", "--cache", "c.sqlite", "--name", "a b"], in: directory)
        #expect(badName.status != 0 && badName.error.contains("--name 'a b'"), "\(badName.error)")
        let nothing = try runTool(["calibrate", "--cache", "c.sqlite", "--target", "trn3"], in: directory)
        #expect(nothing.status != 0 && nothing.error.contains("no successful neuron measurements of trn3"))
    }
}
