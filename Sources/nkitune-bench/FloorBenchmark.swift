import Autotune
import CostModel
import Foundation
import KernelSpace
import MoEModel

/// Each kernel of one decode step and one prefill, tuned on the performance model, beside its own
/// floor: the bytes it must move at the rank's bandwidth or its MACs at the rank's peak, whichever
/// is larger. Run for the contest deployment (LNC 2) and for one core per rank (LNC 1), on trn2
/// and trn3, so the effect of the second core shows kernel by kernel; each fused block's tuned
/// variant with its critical path (``CriticalPath``), which says what holds it above its floor.
enum FloorBenchmark {
    static func run(budget: Int) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nkitune-floors-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let cache = try TimingCache(path: directory.appendingPathComponent("floors.sqlite").path)
        let driver = Driver(backend: ModelBackend(), cache: cache)
        // NKITUNE_BENCH_PHASES=decode runs only the decode step.
        let phases =
            ProcessInfo.processInfo.environment["NKITUNE_BENCH_PHASES"].map {
                $0.split(separator: ",").compactMap { Phase(rawValue: String($0)) }
            } ?? [.decode, .prefill]
        for target in [Target.trn2, .trn3] {
            var totals: [String: (tuned: Double, floor: Double)] = [:]
            for lnc in [2, 1] {
                let deployment = Deployment(model: .qwen3MoE30BA3B, target: target.name, logicalCoreSize: lnc)
                for phase in phases {
                    print("\n\(target.name), LNC \(lnc), \(phase.rawValue) (guided, \(budget) measurements per kernel)")
                    print(
                        [
                            pad("role", 34), pad("calls", 5, right: true), pad("tuned", 10, right: true),
                            pad("floor", 10, right: true), pad("ratio", 6, right: true), "  split",
                        ].joined(separator: " "))
                    var tunedSum = 0.0
                    var floorSum = 0.0
                    var rows: [(role: String, count: Int, tuned: Double)] = []
                    for call in deployment.inventory(phase) {
                        let (tuned, split, _) = try best(call, target: target, driver: driver, budget: budget)
                        let floor = self.floor(call, target: target, cores: lnc)
                        rows.append((call.role, call.count, tuned))
                        tunedSum += tuned * Double(call.count)
                        floorSum += floor * Double(call.count)
                        print(
                            [
                                pad(call.role, 34), pad("\(call.count)", 5, right: true),
                                pad(String(format: "%.2f us", tuned / 1e3), 10, right: true),
                                pad(String(format: "%.2f us", floor / 1e3), 10, right: true),
                                pad(String(format: "%.2f", tuned / floor), 6, right: true), "  " + split,
                            ].joined(separator: " "))
                    }
                    print(
                        String(
                            format: "sum over the step: tuned %.3f ms, floor %.3f ms, ratio %.2f", tunedSum / 1e6,
                            floorSum / 1e6, tunedSum / floorSum))
                    for block in deployment.fusedBlocks(phase) {
                        let (tuned, split, key) = try best(
                            block.call, target: target, driver: driver, budget: budget)
                        let floor = self.floor(block.call, target: target, cores: lnc)
                        let replaced = rows.filter { block.replaces.contains($0.role) }
                        let unfused = replaced.reduce(0.0) { $0 + $1.tuned * Double($1.count) }
                        let fusedSum = tunedSum - unfused + tuned * Double(block.call.count)
                        print(
                            String(
                                format:
                                    "%@: tuned %.2f us, floor %.2f us, ratio %.2f, split %@; in place of %@ "
                                    + "(%.2f us): step %.3f ms, ratio %.2f",
                                block.call.role, tuned / 1e3, floor / 1e3, tuned / floor, split,
                                block.replaces.joined(separator: ", "), unfused / Double(block.call.count) / 1e3,
                                fusedSum / 1e6, fusedSum / floorSum))
                        print("  critical path: " + (try criticalPath(block.call, key, target: target)))
                        if fusedSum < tunedSum { tunedSum = fusedSum }
                    }
                    totals["\(phase.rawValue) LNC \(lnc)"] = (tunedSum, floorSum)
                }
            }
            print("\n\(target.name) summary (kernels of one step, back to back)")
            for key in ["decode LNC 2", "decode LNC 1", "prefill LNC 2", "prefill LNC 1"] {
                guard let total = totals[key] else { continue }
                print(
                    String(
                        format: "  %@: tuned %.3f ms, floor %.3f ms, %.2fx", key, total.tuned / 1e6,
                        total.floor / 1e6, total.tuned / total.floor))
            }
        }
    }

    /// The call's fastest in-graph latency (ns) after a guided search, its split and its
    /// configuration key.
    static func best(
        _ call: KernelCall, target: Target, driver: Driver, budget: Int
    ) throws -> (Double, String, String) {
        let request = TuneRequest(
            space: SearchSpace(call.template), problem: call.problem, target: target, strategy: .guided,
            budget: budget, seed: 1, verify: 0)
        guard let best = try driver.tune(request).best.first, let latency = best.measurement.latency else {
            throw AutotuneError(.backend, "\(call.role): no valid variant measured")
        }
        return (max(0, latency - target.launchOverhead), splits(best.configuration), best.configuration)
    }

    /// The critical path of the call's variant `key`, as time by what it is spent on (core 0's).
    static func criticalPath(_ call: KernelCall, _ key: String, target: Target) throws -> String {
        let configuration = try SearchSpace(call.template).parse(key)
        let program = call.template.program(for: call.problem, configuration: configuration)
        let path = CriticalPath(Timeline.trace(program, on: target).events)
        return path.totals.map { String(format: "%@ %.2f us", $0.activity, $0.time / 1e3) }.joined(separator: ", ")
    }

    /// How a variant shares the rank's cores: a kernel's `split`; a fused block's stage splits
    /// other than none, each with its stage (`experts:experts`), or none.
    static func splits(_ key: String) -> String {
        let splits = key.split(separator: ",").map { $0.split(separator: "=").map(String.init) }.filter {
            $0.count == 2 && ($0[0] == "split" || $0[0].hasSuffix("_split"))
        }
        guard splits.count > 1 else { return splits.first?[1] ?? "-" }
        let shared = splits.filter { $0[1] != "none" }.map { "\($0[0].dropLast("_split".count)):\($0[1])" }
        return shared.isEmpty ? "none" : shared.joined(separator: " ")
    }

    /// ns the call cannot beat: its compulsory bytes at the rank's bandwidth (each core's DMA peak,
    /// two cores capped by the HBM stack they share), or its MACs at the rank's TensorE peak.
    static func floor(_ call: KernelCall, target: Target, cores: Int) -> Double {
        let bandwidth =
            cores > 1
            ? min(Double(cores) * target.peakDMABytesPerNs, target.sharedHBMBytesPerNs) : target.peakDMABytesPerNs
        let memory = Double(compulsoryBytes(call)) / bandwidth
        let compute = Double(call.macsPerCall) / (Double(cores) * target.peakMACsPerNs)
        return max(memory, compute)
    }

    /// Bytes a kernel must read and write at least once: its operands and results, and of the
    /// experts' weights only those of the experts the tokens choose.
    static func compulsoryBytes(_ call: KernelCall) -> Int {
        let problem = call.problem
        func size(_ name: String) -> Int { problem[name]?.intValue ?? 0 }
        let bf16 = 2
        switch call.template.id {
        case "rmsnorm":
            let rows = size("T") * size("H") * bf16
            return problem["residual"] == .choice("1") ? 4 * rows + size("H") * bf16 : 2 * rows + size("H") * bf16
        case "qkv", "o-proj", "lm-head", "linear":
            let (m, k, n) = (size("M"), size("K"), size("N"))
            return (m * k + k * n + m * n) * bf16
        case "qk-norm-rope":
            let (tokens, d) = (size("T"), size("d"))
            return 2 * tokens * (size("q_heads") + size("kv_heads")) * d * bf16 + 2 * tokens * d * bf16 + 2 * d * bf16
        case "attention-decode":
            let d = size("d")
            return 2 * size("heads") * d * bf16 + 2 * size("kv_heads") * size("S") * d * bf16
        case "attention-prefill":
            let (positions, d) = (size("S"), size("d"))
            return 2 * size("heads") * positions * d * bf16 + 2 * size("kv_heads") * positions * d * bf16
        case "attention-block-decode":
            let (hidden, positions, heads, kvHeads, d) = (
                size("H"), size("S"), size("heads"), size("kv_heads"), size("d")
            )
            // x and out, the norm weights, cos and sin, both projections' weights, the caches read
            // and the new token's key and value written.
            let vectors = 2 * hidden + hidden + 2 * d + 2 * d
            let weights = hidden * (heads + 2 * kvHeads) * d + heads * d * hidden
            return (vectors + weights + 2 * kvHeads * positions * d + 2 * kvHeads * d) * bf16
        case "router":
            return size("T") * size("H") * bf16 + size("H") * size("E") * bf16 + size("T") * size("k") * 8
        case "expert-mlp-decode", "expert-mlp-prefill", "moe-block-decode":
            let (tokens, hidden, columns, experts, k) = (size("T"), size("H"), size("I"), size("E"), size("k"))
            let used = min(experts, tokens * k)
            let weights = used * 3 * hidden * columns * bf16
            guard call.template.id == "moe-block-decode" else {
                return 2 * tokens * hidden * bf16 + weights + tokens * k * 8
            }
            // x and residual in, the residual sum and the experts' sum out, the norm's and the
            // router's weights, the chosen experts.
            return 4 * tokens * hidden * bf16 + hidden * bf16 + hidden * experts * bf16 + weights
        default:
            return 0
        }
    }
}
