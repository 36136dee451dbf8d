import Autotune
import Foundation
import KernelSpace
import MoEModel
import Testing

/// `tune-model` then `export` as a user runs them, and what the exported directory holds.
@Suite(.serialized) struct ExportProcessTests {
    /// The repository's scripts directory.
    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../scripts").standardized.path

    /// A routing unlike either timing scenario, with the block tables nkitune's interpreter uses.
    func blockTablesCase() throws -> String {
        let template = ExpertMLPPrefillTemplate()
        let problem = try template.parseProblem("T=640,H=2048,I=192,E=128,k=8,routing=skewed,lnc=2")
        var inputs = template.inputs(for: problem, seed: 3)
        // Every token's first expert forced to 5: one expert far over a block, most others light.
        for token in 0..<640 { inputs[3].data[token * 8] = 5 }
        inputs[3].data[8] = 127
        // Split cores: the used blocks are dealt to the cores' slices in turn.
        let configuration = try SearchSpace(template).parse("split=blocks")
        let arguments = template.arguments(inputs, problem: problem, configuration: configuration)
        let blocks = arguments[3].shape[1]
        let object: [String: Any] = [
            "experts": (0..<640).map { token in (0..<8).map { Int(inputs[3].data[token * 8 + $0]) } },
            "weights": (0..<640).map { token in (0..<8).map { Double(inputs[4].data[token * 8 + $0]) } },
            "size": arguments[4].shape[0], "blocks": blocks, "cores": 2,
            "block_expert": arguments[3].data.map(Double.init), "block_token": arguments[4].data.map(Double.init),
            "block_weight": arguments[5].data.map(Double.init), "block_active": arguments[6].data.map(Double.init),
        ]
        let data = try JSONSerialization.data(withJSONObject: object)
        return String(decoding: data, as: UTF8.self)
    }

    @Test func aShortTuneEndsInAnExportTheHarnessCanLoad() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tune = try runTool(
            [
                "tune-model", "qwen3-30b-a3b", "--budget", "120", "--slice", "16", "--verify", "1", "--cache",
                "c.sqlite",
            ],
            in: directory, seconds: 900)
        #expect(tune.status == 0, "\(tune.error)")
        let export = try runTool(
            [
                "export", "qwen3-30b-a3b", "--cache", "c.sqlite", "--out", "tuned", "--gate-layers", "1",
                "--gate-steps", "2",
            ],
            in: directory, seconds: 900)
        #expect(export.status == 0, "\(export.error)")
        #expect(export.output.contains("accuracy gate passed"))
        let out = "\(directory)/tuned"
        let manager = FileManager.default
        let kernels = try manager.contentsOfDirectory(atPath: "\(out)/kernels").sorted()
        let tasks = Deployment(model: .qwen3MoE30BA3B, target: "trn2").tasks()
        #expect(kernels.count == tasks.count)
        // Each kernel file is headed by its configuration and how it was measured.
        for file in kernels {
            let text = try String(contentsOfFile: "\(out)/kernels/\(file)", encoding: .utf8)
            #expect(text.hasPrefix("# nkitune kernel: "))
            #expect(text.contains("# configuration: ") && text.contains("measured on the model backend"))
            #expect(text.contains("@nki.jit"))
        }
        // The module passes the leaderboard's static checks and byte-compiles.
        let module = try String(contentsOfFile: "\(out)/qwen_tuned.py", encoding: .utf8)
        #expect(ModuleCheck.problems(module).isEmpty)
        let compiled = try runShell("python3 -m py_compile tuned/qwen_tuned.py", in: directory)
        #expect(compiled.status == 0, "\(compiled.error)")
        // With stand-ins for torch, NKI and NxD: every name exists, kernels get their declared
        // shapes, the layer calls them in model order, and the block tables equal nkitune's.
        try blockTablesCase().write(toFile: "\(directory)/tables.json", atomically: true, encoding: .utf8)
        let check = try runShell(
            "python3 \(Self.scripts)/check_contest_module.py tuned --tables tables.json", in: directory)
        #expect(check.status == 0, "\(check.output)\(check.error)")
        #expect(check.output.hasPrefix("ok: "))
        // The manifest lists every task with its provenance and the estimates.
        let manifest = try #require(
            JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/manifest.json")))
                as? [String: Any])
        let entries = try #require(manifest["kernels"] as? [[String: Any]])
        #expect(entries.count == tasks.count)
        #expect(entries.allSatisfy { $0["configuration"] is String && $0["latencyNanoseconds"] is Double })
        #expect(entries.contains { $0["source"] as? String == "tuned" })
        let estimate = try #require(manifest["estimate"] as? [String: Any])
        let untuned = try #require(manifest["untunedEstimate"] as? [String: Any])
        #expect(
            (estimate["scoredNanoseconds"] as? Double ?? .infinity) < (untuned["scoredNanoseconds"] as? Double ?? 0))
        #expect((estimate["prompts"] as? [Any])?.count == 5)
        #expect((manifest["accuracy"] as? [String: Double])?["top-5"] != nil)
        let report = try String(contentsOfFile: "\(out)/report.html", encoding: .utf8)
        #expect(report.contains("<svg") && report.contains("Per public prompt") && !report.contains("<script"))
    }

    @Test func exportsReplaceOnlyTheirOwnDirectoriesAndNeverHalfWrite() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let manager = FileManager.default
        try manager.createDirectory(atPath: "\(directory)/mine", withIntermediateDirectories: true)
        try "keep".write(toFile: "\(directory)/mine/notes.txt", atomically: true, encoding: .utf8)
        let arguments = [
            "export", "qwen3-30b-a3b", "--gate-layers", "1", "--gate-steps", "1", "--cache", "none.sqlite",
        ]
        let refused = try runTool(arguments + ["--out", "mine"], in: directory)
        #expect(refused.status != 0)
        #expect(refused.errorLines.last?.contains("refusing to replace mine: nkitune did not write it") == true)
        #expect(try manager.contentsOfDirectory(atPath: "\(directory)/mine") == ["notes.txt"])
        #expect(!manager.fileExists(atPath: "\(directory)/none.sqlite"))
        // An untuned export (no cache), then again over it: replaced whole, nothing left beside it.
        #expect(try runTool(arguments + ["--out", "tuned"], in: directory).status == 0)
        let again = try runTool(arguments + ["--out", "tuned"], in: directory)
        #expect(again.status == 0, "\(again.error)")
        #expect(try manager.contentsOfDirectory(atPath: directory).sorted() == ["mine", "tuned"])
        let manifest = try String(contentsOfFile: "\(directory)/tuned/manifest.json", encoding: .utf8)
        #expect(manifest.contains("\"source\" : \"default\"") || manifest.contains("\"source\" : \"first valid\""))
        #expect(!manifest.contains("\"source\" : \"tuned\""))
    }
}
