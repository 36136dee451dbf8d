import Autotune
import Foundation
import KernelSpace
import Testing

@testable import nkitune

/// Parses and runs a command line, returning the one-line error it throws (nil on success).
func failure(_ arguments: [String]) -> String? {
    do {
        var command = try NKITune.parseAsRoot(arguments)
        try command.run()
        return nil
    } catch let error as CLIError {
        return error.description
    } catch {
        return NKITune.oneLine(NKITune.message(for: error))
    }
}

@Suite struct CommandLineTests {
    let cache = FileManager.default.temporaryDirectory.appendingPathComponent(
        "nkitune-cli-\(UUID().uuidString)/c.sqlite"
    ).path

    @Test func badInputGetsOneLineNamingIt() {
        let cases: [([String], String)] = [
            (
                ["tune", "matmul", "--problem", "M=1"],
                "The value 'matmul' is invalid for '<kernel>'. Please provide one of the following: "
                    + catalog.map(\.id).joined(separator: ", ")
            ),
            (
                ["tune", "linear", "--problem", "M=640,K=2048,N=768", "--target", "trn9"],
                "The value 'trn9' is invalid for '--target <target>'. Please provide one of 'trn1', 'trn2' or 'trn3'."
            ),
            (
                ["tune", "linear", "--problem", "M=abc,K=2048,N=768"],
                "problem dimension M=abc is not an integer (kernel linear)"
            ),
            (["tune", "linear", "--problem", "M=640,K=2048"], "problem is missing dimension 'N' (kernel linear)"),
            (
                ["tune", "linear", "--problem", "M=640,K=2048,N=768,Z=3"],
                "unknown problem dimension 'Z' (expected M, K, N, act, dtype, lnc) (kernel linear)"
            ),
            (
                ["tune", "linear", "--problem", "M=0,K=2048,N=768"],
                "problem dimension M=0 must be positive (kernel linear)"
            ),
            (
                ["tune", "linear", "--problem", "M=640,K=2048,N=768", "--strategy", "greedy"],
                "The value 'greedy' is invalid for '--strategy <strategy>'. Please provide one of the following: "
                    + "auto, exhaustive, random, anneal, genetic, bayes, guided"
            ),
            (
                ["emit", "linear", "--problem", "M=640,K=2048,N=768", "--config", "tile_m=7"],
                "value tile_m=7 is not in the space of linear (allowed: 32, 64, 128)"
            ),
            (
                ["emit", "linear", "--problem", "M=640,K=2048,N=768", "--config", "warp=4"],
                "unknown parameter 'warp' for kernel linear"
            ),
            (
                ["tune", "linear", "--problem", "M=640,K=2048,N=768", "--cache", "/proc/nkitune-nowhere/c.sqlite"],
                "cannot create cache directory /proc/nkitune-nowhere: You don’t have permission."
            ),
        ]
        for (arguments, message) in cases {
            let got = failure(arguments)
            if arguments.contains("/proc/nkitune-nowhere/c.sqlite") {
                #expect(
                    got?.hasPrefix("cannot create cache directory /proc/nkitune-nowhere") == true, "\(got ?? "nil")")
            } else {
                #expect(got == message, "\(arguments)")
            }
            #expect(got?.contains("\n") == false)
        }
    }

    @Test func emitWithoutTuningSaysWhatToDo() {
        let got = failure(["emit", "linear", "--problem", "M=64,K=64,N=128", "--cache", cache])
        #expect(
            got?.hasPrefix("no tuned variant of linear M=64,K=64,N=128,act=none,dtype=bf16,lnc=1 on trn2 in ") == true)
    }

    @Test func tuneThenEmitTheBest() throws {
        #expect(
            failure(["tune", "linear", "--problem", "M=64,K=256,N=512", "--budget", "40", "--cache", cache]) == nil)
        let out = (cache as NSString).deletingLastPathComponent + "/best.py"
        #expect(failure(["emit", "linear", "--problem", "M=64,K=256,N=512", "--cache", cache, "--out", out]) == nil)
        let source = try String(contentsOfFile: out, encoding: .utf8)
        #expect(source.contains("# predicted latency (performance model): "))
        #expect(source.contains("def linear_kernel("))
    }

    /// Written for a release without dynamic loops, the prefill experts run their empty blocks: the
    /// note says so with both timings; from 2.29 the kernel skips them and there is no note.
    @Test func olderReleasesGetANoteAndNewerOnesTheDynamicLoop() throws {
        let template = ExpertMLPPrefillTemplate()
        let problem = try template.parseProblem("T=64,H=256,I=64,E=8,k=2,lnc=2")
        let program = template.program(
            for: problem, configuration: try SearchSpace(template).parse("block=32,down_tile=256,split=blocks"))
        let old = try ReleaseOption.parse(["--sdk", "2.27"])
        let note = try #require(old.note(for: [program], on: .trn2))
        #expect(note.contains("expert_mlp_prefill_kernel") && note.contains(" instead of "), "\(note)")
        #expect(
            old.note(
                for: [
                    LinearTemplate().program(
                        for: try LinearTemplate().parseProblem("M=8,K=128,N=128"),
                        configuration: LinearTemplate().defaultConfiguration)
                ], on: .trn2) == nil)
        #expect(try ReleaseOption.parse(["--sdk", "2.29"]).note(for: [program], on: .trn2) == nil)
        let directory = (cache as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let out = directory + "/experts.py"
        let arguments = [
            "emit", "expert-mlp-prefill", "--problem", "T=64,H=256,I=64,E=8,k=2,lnc=2", "--config",
            "block=32,down_tile=256,split=blocks", "--sdk", "2.29", "--cache", cache, "--out", out,
        ]
        #expect(failure(arguments) == nil)
        let source = try String(contentsOfFile: out, encoding: .utf8)
        #expect(source.contains("for _ in nl.dynamic_range(live_count):"))
    }
}

@Suite struct ExplainTests {
    /// Each template's demo problem, by id.
    static let problems = Dictionary(uniqueKeysWithValues: catalog.map { ($0.id, $0.demoProblem) })

    @Test(arguments: catalog.map(\.id))
    func explainWritesATimelineForEveryTemplate(kernel: String) throws {
        let problem = try #require(Self.problems[kernel], "no explain problem for \(kernel)")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "nkitune-explain-\(UUID().uuidString)")
        let svg = directory.appendingPathComponent("\(kernel).svg").path
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let cache = directory.appendingPathComponent("c.sqlite").path
        #expect(failure(["explain", kernel, "--problem", problem, "--cache", cache, "--svg", svg]) == nil)
        let document = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(document.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(document.contains("DMA group"))
        #expect(document.hasSuffix("</svg>\n"))
    }

    @Test(arguments: catalog.map(\.id))
    func tuneWorksForEveryTemplate(kernel: String) throws {
        let problem = try #require(Self.problems[kernel])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "nkitune-tune-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let cache = directory.appendingPathComponent("c.sqlite").path
        #expect(
            failure(["tune", kernel, "--problem", problem, "--budget", "12", "--verify", "1", "--cache", cache]) == nil)
        let template = try #require(catalogTemplate(kernel))
        let scope = CacheScope(
            kernel: kernel, problem: try template.parseProblem(problem).key, target: "trn2", backend: "model",
            toolchain: ModelBackend().toolchain)
        let best = try TimingCache(path: cache).best(in: scope, limit: 1)
        #expect(best.first?.check == .passed, "\(kernel): fastest variant not checked")
    }
}
