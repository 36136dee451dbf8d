import Foundation
import KernelSpace
import MoEModel
import Testing

/// Every call the emitter prints, checked against the API table of the SDK release it writes for
/// (tables derived from AWS's published stubs by scripts/nki_api_table.py).
@Suite struct NKIReleaseTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures/nki-api")
    static let checker = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../scripts/check_nki_calls.py").standardized.path

    /// Runs the checker on `files` against `release`'s table: its exit status and what it printed.
    static func check(_ files: [String], against release: NKIRelease) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            ["python3", checker, fixtures.appendingPathComponent("\(release.rawValue).json").path] + files
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    /// Writes each source to a file in a new temporary directory.
    static func write(_ sources: [String]) throws -> (directory: URL, files: [String]) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "nkitune-api-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var files: [String] = []
        for source in sources {
            let file = directory.appendingPathComponent("k\(files.count).py").path
            try source.write(toFile: file, atomically: true, encoding: .utf8)
            files.append(file)
        }
        return (directory, files)
    }

    /// A sample of valid programs of every kernel of the model at its contest shapes.
    static func programs(perTask: Int) -> [(template: String, program: KernelProgram)] {
        var programs: [(String, KernelProgram)] = []
        for (index, task) in Deployment(model: .qwen3MoE30BA3B, target: "trn2").tasks().enumerated() {
            let space = SearchSpace(task.template)
            for configuration in validConfigurations(space, task.problem, limit: perTask, seed: UInt64(index + 3)) {
                programs.append(
                    (task.template.id, task.template.program(for: task.problem, configuration: configuration)))
            }
        }
        return programs
    }

    @Test(arguments: NKIRelease.allCases)
    func everyEmittedCallMatchesItsReleasesSignatures(release: NKIRelease) throws {
        let programs = Self.programs(perTask: 6)
        let kernels = Set(Deployment(model: .qwen3MoE30BA3B, target: "trn2").tasks().map(\.template.id))
        #expect(Set(programs.map(\.template)) == kernels, "every kernel of the model is sampled")
        let (directory, files) = try Self.write(
            programs.map { NKIEmitter.emit($0.program, header: [], release: release) })
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try Self.check(files, against: release)
        #expect(result.status == 0, "\(release.rawValue): \(result.output)")
        #expect(result.output.contains("checked "), "\(result.output)")
    }

    @Test func anAccumulatingCopyIsSpelledForItsRelease() throws {
        let accumulating = Self.programs(perTask: 3).map(\.program).filter { program in
            var found = false
            program.forEachInstruction { instruction, _ in
                if case .dmaAdd = instruction { found = true }
            }
            return found
        }
        let program = try #require(accumulating.first, "some kernel of the model accumulates into HBM")
        let old = NKIEmitter.emit(program, header: [], release: .v227)
        let new = NKIEmitter.emit(program, header: [], release: .v229)
        #expect(old.contains("dst_rmw_op=nl.add") && !old.contains("dma_compute"))
        #expect(new.contains("nisa.dma_compute(") && !new.contains("dst_rmw_op"))
        let (directory, files) = try Self.write([old, new])
        defer { try? FileManager.default.removeItem(at: directory) }
        // Each spelling fails against the other release's table: the checker can tell them apart.
        let oldOnNew = try Self.check([files[0]], against: .v229)
        #expect(oldOnNew.status == 1 && oldOnNew.output.contains("no parameter 'dst_rmw_op'"), "\(oldOnNew.output)")
        let newOnOld = try Self.check([files[1]], against: .v227)
        // 2.27 has a `dma_compute` whose `scales` is required; 2.29 made it optional.
        #expect(
            newOnOld.status == 1 && newOnOld.output.contains("nisa.dma_compute: required parameter 'scales'"),
            "\(newOnOld.output)")
    }
}
