import Foundation
import KernelSpace
import Testing

/// Vectors from Hugging Face transformers' own Qwen3-MoE modules (scripts/make_golden.py), an
/// independent check of the templates' references and of their programs on the interpreter.
@Suite struct GoldenTests {
    struct Case {
        var name: String
        var kernel: String
        var problem: String
        var inputs: [HostTensor]
        var outputs: [HostTensor]
    }

    static let cases: [Case] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Fixtures/golden.json")
        guard let data = try? Data(contentsOf: url),
            let document = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let cases = document["cases"] as? [String: [String: Any]]
        else { return [] }
        func tensors(_ value: Any?) -> [HostTensor] {
            (value as? [[String: Any]] ?? []).map { entry in
                let shape = (entry["shape"] as? [NSNumber] ?? []).map(\.intValue)
                let values = (entry["data"] as? [NSNumber] ?? []).map(\.floatValue)
                return HostTensor(shape: shape.count == 1 ? [1, shape[0]] : shape, data: values)
            }
        }
        return cases.keys.sorted().map { name in
            let entry = cases[name]!
            return Case(
                name: name, kernel: entry["kernel"] as? String ?? "", problem: entry["problem"] as? String ?? "",
                inputs: tensors(entry["inputs"]), outputs: tensors(entry["outputs"]))
        }
    }()

    @Test func everyCaseIsPresent() {
        #expect(
            Set(Self.cases.map(\.name)) == [
                "attention-decode", "expert-mlp-decode", "qk-norm-rope", "rmsnorm", "rmsnorm-residual", "router",
            ])
    }

    @Test(arguments: ["attention-decode", "expert-mlp-decode", "qk-norm-rope", "rmsnorm", "rmsnorm-residual", "router"])
    func referenceAndInterpreterMatchTransformers(name: String) throws {
        let golden = try #require(Self.cases.first { $0.name == name })
        let template = try #require(KernelCatalog.template(golden.kernel))
        let problem = try template.parseProblem(golden.problem)
        let space = SearchSpace(template)
        let configuration =
            template.restriction(template.defaultConfiguration, for: problem) == nil
            ? template.defaultConfiguration : try #require(validConfigurations(space, problem, limit: 1, seed: 1).first)
        let program = template.program(for: problem, configuration: configuration)
        let types = program.outputs.map(\.dtype)
        let reference = template.reference(for: problem, inputs: golden.inputs)
        let fromReference = NumericCheck.compare(reference, golden.outputs, types: types, problem: problem)
        #expect(fromReference.passed, "\(name) reference: \(fromReference.reason ?? "")")
        let outputs = try Interpreter.run(
            program, inputs: template.arguments(golden.inputs, problem: problem, configuration: configuration))
        let fromKernel = NumericCheck.compare(outputs, golden.outputs, types: types, problem: problem)
        #expect(fromKernel.passed, "\(name) kernel \(configuration.key): \(fromKernel.reason ?? "")")
    }
}
