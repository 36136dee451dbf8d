import Foundation
import KernelSpace
import Testing

/// Small problems for every template, including sizes that do not divide the tiles.
let smallProblems: [String: [String]] = [
    "linear": ["M=40,K=72,N=200"],
    "o-proj": ["M=3,K=100,N=300"],
    "qkv": ["M=40,K=200,N=160,norm=1", "M=5,K=300,N=256,norm=0,dtype=fp32"],
    "lm-head": ["M=1,K=160,N=700"],
    "rmsnorm": ["T=40,H=96", "T=200,H=64,residual=1"],
    "router": ["T=40,H=200,E=64", "T=130,H=128,E=128,k=4"],
    "expert-mlp-decode": ["T=1,H=256,I=96,E=8,k=3", "T=2,H=128,I=160,E=6,k=2", "T=2,H=384,I=64,E=4,k=2"],
    "expert-mlp-prefill": [
        "T=40,H=128,I=96,E=8,k=2", "T=70,H=64,I=160,E=6,k=3,routing=skewed", "T=24,H=384,I=64,E=4,k=2",
    ],
    "attention-prefill": ["S=150,heads=2,kv_heads=1,d=64", "S=128,heads=4,kv_heads=2,d=32"],
    "attention-decode": ["S=200,heads=4,kv_heads=1,d=64", "S=384,heads=8,kv_heads=2,d=128"],
    "qk-norm-rope": ["T=40,q_heads=2,kv_heads=1,d=64,pos=7", "T=130,q_heads=1,kv_heads=1,d=128,pos=500"],
]

@Suite struct CatalogTests {
    @Test func everyTemplateHasTestProblems() {
        for template in KernelCatalog.all {
            #expect(smallProblems[template.id] != nil, "\(template.id) has no test problems")
        }
    }

    @Test(arguments: KernelCatalog.all.map(\.id))
    func defaultAndSampledConfigurationsMatchTheReference(kernel: String) throws {
        let template = try #require(KernelCatalog.template(kernel))
        let space = SearchSpace(template)
        for text in smallProblems[kernel] ?? [] {
            let problem = try template.parseProblem(text)
            var configurations = validConfigurations(space, problem, limit: 40, seed: 5)
            if template.restriction(template.defaultConfiguration, for: problem) == nil {
                configurations.insert(template.defaultConfiguration, at: 0)
            }
            #expect(configurations.count >= 20, "\(kernel) \(text): only \(configurations.count) valid")
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
                        error <= NumericCheck.tolerance(for: problem),
                        "\(kernel) \(text) \(configuration.key): \(error)")
                }
            }
        }
    }

    @Test(arguments: KernelCatalog.all.map(\.id))
    func emittedSourceCompilesAndUsesDocumentedNames(kernel: String) throws {
        let template = try #require(KernelCatalog.template(kernel))
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
