import Foundation
import KernelSpace
import Testing

/// Each template's own check problems, by id.
let smallProblems = Dictionary(uniqueKeysWithValues: catalog.map { ($0.id, $0.checkProblems) })

@Suite struct CatalogTests {
    @Test func everyTemplateDeclaresProblemsItAccepts() throws {
        for template in catalog {
            #expect(!template.checkProblems.isEmpty, "\(template.id) has no check problems")
            for text in template.checkProblems + [template.demoProblem] {
                _ = try template.parseProblem(text)
            }
        }
    }

    @Test(arguments: catalog.map(\.id))
    func defaultAndSampledConfigurationsMatchTheReference(kernel: String) throws {
        let template = try #require(catalogTemplate(kernel))
        let space = SearchSpace(template)
        for text in smallProblems[kernel] ?? [] {
            let problem = try template.parseProblem(text)
            var configurations = validConfigurations(space, problem, limit: 40, seed: 5)
            if template.restriction(template.defaultConfiguration, for: problem) == nil {
                configurations.insert(template.defaultConfiguration, at: 0)
            }
            // A space of at most 160 configurations is enumerated whole.
            #expect(
                configurations.count >= 20 || space.size <= 160, "\(kernel) \(text): only \(configurations.count) valid"
            )
            let inputs = template.inputs(for: problem, seed: 9)
            let expected = template.reference(for: problem, inputs: inputs)
            for configuration in configurations {
                let program = template.program(for: problem, configuration: configuration)
                let outputs = try Interpreter.run(
                    program, inputs: template.arguments(inputs, problem: problem, configuration: configuration))
                #expect(outputs.count == expected.count)
                for (got, want) in zip(outputs, expected) {
                    let error = NumericCheck.relativeError(got, want)
                    #expect(
                        error <= template.tolerance(for: problem),
                        "\(kernel) \(text) \(configuration.key): \(error)")
                }
            }
        }
    }

    @Test(arguments: catalog.map(\.id))
    func emittedSourceCompilesAndUsesDocumentedNames(kernel: String) throws {
        let template = try #require(catalogTemplate(kernel))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "nkitune-\(kernel)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var files: [String] = []
        for text in smallProblems[kernel] ?? [] {
            let problem = try template.parseProblem(text)
            for configuration in validConfigurations(SearchSpace(template), problem, limit: 20, seed: 3) {
                let source = NKIEmitter.emit(
                    template.program(for: problem, configuration: configuration),
                    header: ["\(kernel) \(configuration.key)"])
                let unknown = EmitterTests.namesUsed(source).subtracting(EmitterTests.allowedNames)
                #expect(unknown.isEmpty, "\(kernel): undocumented names \(unknown)")
                let file = directory.appendingPathComponent("k\(files.count).py").path
                try source.write(toFile: file, atomically: true, encoding: .utf8)
                files.append(file)
            }
        }
        #expect(!files.isEmpty)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "py_compile"] + files
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }
}
