// Benchmarks that print figures: the performance model against published Trainium measurements,
// evaluation throughput, the model task scheduler against round-robin, and (only when named, it
// takes a while) search strategies against Kernel Tuner's. Run from the package root with
// `swift run -c release nkitune-bench [calibration|throughput|scheduler|strategies|floors]` (default:
// the first three); see README.md, Benchmarks.
import Autotune
import CostModel
import Foundation
import KernelSpace

func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let padding = String(repeating: " ", count: max(0, width - text.count))
    return right ? padding + text : text + padding
}

let sections = Set(CommandLine.arguments.dropFirst())
func wanted(_ section: String) -> Bool { sections.isEmpty || sections.contains(section) }

if wanted("calibration") {
    print("Calibration: performance model against published hardware measurements")
    print(
        [
            pad("table", 32), pad("version", 24), pad("target", 6), pad("published", 11, right: true),
            pad("model", 11, right: true), pad("ratio", 7, right: true), "  bound",
        ].joined(separator: " "))
    for row in CalibrationCase.all {
        let report = try row.predict()
        let predicted = report.latency / 1e6
        print(
            [
                pad(row.table, 32), pad(row.version, 24), pad(row.target.name, 6),
                pad(String(format: "%.2f ms", row.publishedMilliseconds), 11, right: true),
                pad(String(format: "%.2f ms", predicted), 11, right: true),
                pad(String(format: "%.3f", predicted / row.publishedMilliseconds), 7, right: true),
                "  " + report.boundingEngine.rawValue,
            ].joined(separator: " "))
    }
}

let cores = ProcessInfo.processInfo.activeProcessorCount
let template = LinearTemplate()
let space = SearchSpace(template)

/// Variants per second through the driver (restriction, program, resource check, timeline, cache writes).
func driverThroughput(problem text: String, budget: Int) throws -> (Double, Int) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nkitune-bench-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = try TimingCache(path: directory.appendingPathComponent("bench.sqlite").path)
    let request = TuneRequest(
        space: space, problem: try template.parseProblem(text), target: .trn2, strategy: .random, budget: budget,
        seed: 7, jobs: cores, verify: 0)
    let driver = Driver(backend: ModelBackend(slots: cores), cache: cache)
    let summary = try driver.tune(request)
    // The same run again: every candidate is found in the cache (its program digest recomputed).
    let start = ContinuousClock.now
    let again = try driver.tune(request)
    let seconds = (ContinuousClock.now - start).seconds
    print(
        String(
            format: "  the same run again, all %d candidates cached: %.2f s (%.0f candidates/s, digests included)",
            again.cached, seconds, Double(again.candidates) / seconds))
    return (summary.rate, summary.evaluated.values.reduce(0, +))
}

/// Program digests per second (the cache identity of a variant), on one core.
func digestRate(problem text: String, configuration key: String, count: Int) throws -> Double {
    let program = template.program(for: try template.parseProblem(text), configuration: try space.parse(key))
    let start = ContinuousClock.now
    var total = 0
    for _ in 0..<count { total &+= program.digest.utf8.count }
    precondition(total == 16 * count)
    return Double(count) / (ContinuousClock.now - start).seconds
}

/// Model evaluations per second for one configuration, simulated repeatedly on every core.
func simulationRate(problem text: String, configuration key: String, seconds: Double) throws -> (Double, Double) {
    let problem = try template.parseProblem(text)
    let program = template.program(for: problem, configuration: try space.parse(key))
    let latency = Timeline.simulate(program, on: .trn2).latency
    let start = ContinuousClock.now
    let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: cores)
    defer { counts.deallocate() }
    nonisolated(unsafe) let shared = counts
    DispatchQueue.concurrentPerform(iterations: cores) { worker in
        var count = 0
        while (ContinuousClock.now - start) < .milliseconds(Int(seconds * 1000)) {
            _ = Timeline.simulate(program, on: .trn2)
            count += 1
        }
        shared[worker] = count
    }
    let elapsed = (ContinuousClock.now - start).seconds
    return (Double(counts.reduce(0, +)) / elapsed, latency)
}

if wanted("throughput") {
    print("\nThroughput on \(cores) cores")
    let (rate, evaluated) = try driverThroughput(problem: "M=640,K=2048,N=768", budget: 6000)
    print(
        String(
            format: "  tune linear M=640,K=2048,N=768, model backend: %.0f variants/s (%d variants)", rate, evaluated))
    let linearKey = "tile_m=128,tile_k=128,tile_n=512,block_m=1,block_k=4,block_n=1,loop_order=mkn,x_bufs=2,w_bufs=2"
    let (linearRate, linearLatency) = try simulationRate(
        problem: "M=640,K=2048,N=768", configuration: linearKey, seconds: 2)
    print(
        String(
            format: "  model evaluations, linear M=640,K=2048,N=768 (%@): %.0f /s, predicted %.1f us", linearKey,
            linearRate,
            linearLatency / 1e3))
    let digests = try digestRate(problem: "M=640,K=2048,N=768", configuration: linearKey, count: 2000)
    print(String(format: "  program digests, linear M=640,K=2048,N=768: %.0f /s on one core", digests))
    let (headRate, headLatency) = try simulationRate(
        problem: "M=640,K=2048,N=37984", configuration: linearKey, seconds: 3)
    print(
        String(
            format:
                "  model evaluations, lm_head slice M=640,K=2048,N=37984 (same configuration): %.0f /s, predicted %.1f us",
            headRate, headLatency / 1e3))
}

if wanted("scheduler") { try schedulerBenchmark(budgets: [300, 600, 1200, 2400], seeds: [1, 2, 3]) }

if sections.contains("floors") {
    let budget = Int(ProcessInfo.processInfo.environment["NKITUNE_BENCH_BUDGET"] ?? "") ?? 32
    try FloorBenchmark.run(budget: budget)
}

if sections.contains("strategies") {
    let environment = ProcessInfo.processInfo.environment
    let seeds = Int(environment["NKITUNE_BENCH_SEEDS"] ?? "") ?? 25
    let python = [environment["NKITUNE_KT_PYTHON"], ".build/kt-venv/bin/python"].compactMap { $0 }.first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    if python == nil {
        print("\nno Python with kernel_tuner (set NKITUNE_KT_PYTHON or run .ci/run): nkitune rows only")
    }
    try StrategyBenchmark.run(seeds: seeds, output: "bench/out", python: python)
}
