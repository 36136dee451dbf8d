import Foundation
import Testing

/// `nkitune cache export-kt` read by Kernel Tuner's own cache reader and replayed in its
/// simulation mode (kernel_tuner from PyPI in the virtual environment `.ci/run` makes, or the
/// Python `NKITUNE_KT_PYTHON` names).
@Suite(.serialized) struct KernelTunerExportTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..")
        .standardized.path

    /// A Python that imports kernel_tuner, or nil (with the reason printed).
    static let python: String? = {
        let candidates = [
            ProcessInfo.processInfo.environment["NKITUNE_KT_PYTHON"], root + "/.build/kt-venv/bin/python",
        ]
        .compactMap { $0 }
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            if let result = try? runShell("\(candidate) -c 'import kernel_tuner'", in: root), result.status == 0 {
                return candidate
            }
        }
        print("KernelTunerExportTests: skipped, no Python with kernel_tuner (run .ci/run or set NKITUNE_KT_PYTHON)")
        return nil
    }()

    @Test func kernelTunerReadsAndReplaysTheExport() throws {
        guard let python = Self.python else { return }
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let check = "\(python) \(Self.root)/scripts/check_kernel_tuner_cache.py"
        // A swept space: replayed whole (layout=hidden keeps tile_t at 32: its other tiles are invalid;
        // split=tokens needs lnc=2: half the space is invalid).
        let sweep = ["--problem", "T=128,H=2048,residual=1", "--cache", "c.sqlite"]
        #expect(
            try runTool(["tune", "rmsnorm", "--strategy", "exhaustive", "--verify", "0"] + sweep, in: directory).status
                == 0)
        let written = try runTool(["cache", "export-kt", "rmsnorm", "--out", "rmsnorm.json"] + sweep, in: directory)
        #expect(written.status == 0, "\(written.error)")
        let replay = try runShell("\(check) rmsnorm.json", in: directory)
        #expect(replay.status == 0, "\(replay.output)\(replay.error)")
        #expect(replay.output.hasPrefix("ok: 576 entries, errors InvalidConfig=384, replayed 10"), "\(replay.output)")
        // A sample with variants over hardware limits: read, their errors understood.
        let sample = ["--problem", "M=1,K=2048,N=37984", "--cache", "c.sqlite"]
        let tuned = try runTool(
            ["tune", "lm-head", "--strategy", "random", "--budget", "40", "--verify", "0"] + sample, in: directory)
        #expect(tuned.status == 0)
        #expect(!tuned.output.contains(" 0 invalid"), "the sample should hold variants over hardware limits")
        #expect(
            try runTool(["cache", "export-kt", "lm-head", "--out", "head.json"] + sample, in: directory).status == 0)
        let read = try runShell("\(check) head.json", in: directory)
        #expect(read.status == 0, "\(read.output)\(read.error)")
        #expect(read.output.hasPrefix("ok: 40 entries, errors InvalidConfig="), "\(read.output)")
        // Never over a file nkitune did not write.
        try "{}".write(toFile: "\(directory)/other.json", atomically: true, encoding: .utf8)
        let refused = try runTool(["cache", "export-kt", "lm-head", "--out", "other.json"] + sample, in: directory)
        #expect(refused.status != 0 && refused.error.contains("nkitune did not write it"))
    }
}
