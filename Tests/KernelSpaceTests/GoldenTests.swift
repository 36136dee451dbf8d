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
                "attention-decode", "decoder-layer", "expert-mlp-decode", "qk-norm-rope", "rmsnorm", "rmsnorm-residual",
                "router",
            ])
    }

    @Test(arguments: ["attention-decode", "expert-mlp-decode", "qk-norm-rope", "rmsnorm", "rmsnorm-residual", "router"])
    func referenceAndInterpreterMatchTransformers(name: String) throws {
        let golden = try #require(Self.cases.first { $0.name == name })
        let template = try #require(catalogTemplate(golden.kernel))
        let problem = try template.parseProblem(golden.problem)
        let space = SearchSpace(template)
        let configuration =
            template.restriction(template.defaultConfiguration, for: problem) == nil
            ? template.defaultConfiguration : try #require(validConfigurations(space, problem, limit: 1, seed: 1).first)
        let program = template.program(for: problem, configuration: configuration)
        let types = program.outputs.map(\.dtype)
        let reference = template.reference(for: problem, inputs: golden.inputs)
        let fromReference = NumericCheck.compare(
            reference, golden.outputs, types: types, problem: problem, tolerance: template.tolerance(for: problem))
        #expect(fromReference.passed, "\(name) reference: \(fromReference.reason ?? "")")
        let outputs = try Interpreter.run(
            program, inputs: template.arguments(golden.inputs, problem: problem, configuration: configuration))
        let fromKernel = NumericCheck.compare(
            outputs, golden.outputs, types: types, problem: problem, tolerance: template.tolerance(for: problem))
        #expect(fromKernel.passed, "\(name) kernel \(configuration.key): \(fromKernel.reason ?? "")")
    }

    /// Runs a template's program (default configuration, else the first valid one) on the interpreter.
    static func run(_ kernel: String, _ problemText: String, _ inputs: [HostTensor]) throws -> [HostTensor] {
        let template = try #require(catalogTemplate(kernel))
        let problem = try template.parseProblem(problemText)
        let configuration =
            template.restriction(template.defaultConfiguration, for: problem) == nil
            ? template.defaultConfiguration
            : try #require(
                (1...8).lazy.compactMap {
                    validConfigurations(SearchSpace(template), problem, limit: 1, seed: $0).first
                }
                .first)
        return try Interpreter.run(
            template.program(for: problem, configuration: configuration),
            inputs: template.arguments(inputs, problem: problem, configuration: configuration))
    }

    /// Columns `from ..< from + width` of a `[rows, columns]` tensor.
    static func columns(_ tensor: HostTensor, _ from: Int, _ width: Int) -> HostTensor {
        let (rows, total) = (tensor.shape[0], tensor.shape[1])
        let data = (0..<rows).flatMap { row in tensor.data[(row * total + from)..<(row * total + from + width)] }
        return HostTensor(shape: [rows, width], data: Array(data))
    }

    /// `[T, heads * d]` as `[heads * T, d]` (each head's rows together), or back with `inverse`.
    static func headsMajor(_ tensor: HostTensor, tokens: Int, heads: Int, d: Int, inverse: Bool = false) -> HostTensor {
        var data = [Float](repeating: 0, count: tensor.data.count)
        for token in 0..<tokens {
            for head in 0..<heads {
                for index in 0..<d {
                    let tokenMajor = token * heads * d + head * d + index
                    let headMajor = (head * tokens + token) * d + index
                    if inverse {
                        data[tokenMajor] = tensor.data[headMajor]
                    } else {
                        data[headMajor] = tensor.data[tokenMajor]
                    }
                }
            }
        }
        return HostTensor(shape: inverse ? [tokens, heads * d] : [heads * tokens, d], data: data)
    }

    /// One decoder layer by chaining the templates' programs on the interpreter: norm, QKV, q/k norm
    /// and RoPE, attention, O projection, residual and norm, router, experts, residual.
    @Test func decoderLayerChainMatchesTransformers() throws {
        let golden = try #require(Self.cases.first { $0.name == "decoder-layer" })
        var fields: [String: Int] = [:]
        for part in golden.problem.split(separator: ",") {
            let pieces = part.split(separator: "=")
            fields[String(pieces[0])] = Int(pieces[1])
        }
        let (t, h, qh, kvh, d, e, k, i) = (
            fields["T"]!, fields["H"]!, fields["q_heads"]!, fields["kv_heads"]!, fields["d"]!, fields["E"]!,
            fields["k"]!,
            fields["I"]!
        )
        let inputs = golden.inputs
        let x = inputs[0]
        let normed = try Self.run("rmsnorm", "T=\(t),H=\(h)", [x, inputs[1]])[0]
        let qkv = try Self.run("qkv", "M=\(t),K=\(h),N=\((qh + 2 * kvh) * d)", [normed, inputs[2]])[0]
        let (q, kk, v) = (
            Self.columns(qkv, 0, qh * d), Self.columns(qkv, qh * d, kvh * d), Self.columns(qkv, (qh + kvh) * d, kvh * d)
        )
        let rotated = try Self.run(
            "qk-norm-rope", "T=\(t),q_heads=\(qh),kv_heads=\(kvh),d=\(d),pos=0",
            [q, kk, inputs[3], inputs[4], inputs[5], inputs[6]])
        let attention = try Self.run(
            "attention-prefill", "S=\(t),heads=\(qh),kv_heads=\(kvh),d=\(d)",
            [
                Self.headsMajor(rotated[0], tokens: t, heads: qh, d: d),
                Self.headsMajor(rotated[1], tokens: t, heads: kvh, d: d),
                Self.headsMajor(v, tokens: t, heads: kvh, d: d),
            ])[0]
        let projected = try Self.run(
            "o-proj", "M=\(t),K=\(qh * d),N=\(h)",
            [Self.headsMajor(attention, tokens: t, heads: qh, d: d, inverse: true), inputs[7]]
        )[0]
        let post = try Self.run("rmsnorm", "T=\(t),H=\(h),residual=1", [projected, x, inputs[8]])
        let routing = try Self.run("router", "T=\(t),H=\(h),E=\(e),k=\(k)", [post[0], inputs[9]])
        let experts = try Self.run(
            "expert-mlp-decode", "T=\(t),H=\(h),I=\(i),E=\(e),k=\(k)",
            [post[0], inputs[10], inputs[11], routing[1], routing[0]])[0]
        let layer = HostTensor(
            shape: [t, h], data: zip(post[1].data, experts.data).map { DType.roundToBF16($0 + $1) })
        let verdict = NumericCheck.compare(
            [layer], golden.outputs, types: [.bf16], problem: Problem(names: [], values: []), tolerance: 2e-2)
        #expect(verdict.passed, "decoder layer: \(verdict.reason ?? "")")
        // The fused MoE block (a sampled configuration, on one core and split over two either way) against
        // transformers' layer output; MoEBlockDecodeTests checks it bit for bit against its stages.
        let block = try #require(catalogTemplate("moe-block-decode"))
        for (lnc, split) in [(1, "none"), (2, "experts"), (2, "experts_hidden")] {
            let problem = try block.parseProblem("T=\(t),H=\(h),I=\(i),E=\(e),k=\(k),lnc=\(lnc)")
            let configuration = try #require(
                validConfigurations(SearchSpace(block), problem, limit: 120, seed: 1).first {
                    $0["experts_split"] == .choice(split)
                })
            let program = block.program(for: problem, configuration: configuration)
            #expect(program.cores == lnc)
            let sums = try Interpreter.run(
                program, inputs: [projected, x, inputs[8], inputs[9], inputs[10], inputs[11]])
            // The block leaves the residual add to the caller (after the ranks' all-reduce).
            let fused = HostTensor(
                shape: [t, h], data: zip(sums[0].data, sums[1].data).map { DType.roundToBF16($0 + $1) })
            let check = NumericCheck.compare(
                [fused], golden.outputs, types: [.bf16], problem: Problem(names: [], values: []), tolerance: 2e-2)
            #expect(check.passed, "moe-block-decode lnc=\(lnc) split=\(split): \(check.reason ?? "")")
        }
        // The last token decoded through the two fused blocks: its cache holds the earlier tokens'
        // keys and values from the chain above (its own row stale, for the attention block to
        // write); transformers' layer output for it is the golden's last row.
        let last = t - 1
        func row(_ tensor: HostTensor, _ index: Int) -> HostTensor {
            let width = tensor.shape[1]
            return HostTensor(shape: [1, width], data: Array(tensor.data[(index * width)..<((index + 1) * width)]))
        }
        func stale(_ cache: HostTensor) -> HostTensor {
            var cache = cache
            for head in 0..<kvh { for index in 0..<d { cache.data[(head * t + last) * d + index] = 0.5 } }
            return cache
        }
        let keys = stale(Self.headsMajor(rotated[1], tokens: t, heads: kvh, d: d))
        let values = stale(Self.headsMajor(v, tokens: t, heads: kvh, d: d))
        let attentionBlock = try #require(catalogTemplate("attention-block-decode") as? AttentionBlockDecodeTemplate)
        let expected = row(golden.outputs[0], last)
        for (lnc, split) in [(1, "none"), (2, "heads")] {
            let problem = try attentionBlock.parseProblem("H=\(h),S=\(t),heads=\(qh),kv_heads=\(kvh),d=\(d),lnc=\(lnc)")
            // At these sizes few of the block's sampled configurations are valid: each stage's own.
            let problems = attentionBlock.problems(problem)
            let stageProblems = [problems.qkv, problems.rope, problems.attention, problems.output]
            let configuration = try attentionBlock.configuration(
                stages: zip(attentionBlock.stages, stageProblems).map { stage, stageProblem in
                    try #require(
                        validConfigurations(SearchSpace(stage.template), stageProblem, limit: 20, seed: 1).first {
                            !$0.names.contains("split")
                                || $0["split"] == .choice(stage.prefix == "attention_" ? split : "none")
                        })
                })
            #expect(attentionBlock.restriction(configuration, for: problem) == nil)
            let blockInputs = [
                row(x, last), inputs[2], inputs[1], inputs[3], inputs[4], row(inputs[5], last), row(inputs[6], last),
                keys, values, inputs[7],
            ]
            let attended = try Interpreter.run(
                attentionBlock.program(for: problem, configuration: configuration),
                inputs: attentionBlock.arguments(blockInputs, problem: problem, configuration: configuration))[0]
            let moeProblem = try block.parseProblem("T=1,H=\(h),I=\(i),E=\(e),k=\(k),lnc=\(lnc)")
            let moeConfiguration = try #require(
                validConfigurations(SearchSpace(block), moeProblem, limit: 1, seed: 1).first)
            let sums = try Interpreter.run(
                block.program(for: moeProblem, configuration: moeConfiguration),
                inputs: [attended, row(x, last), inputs[8], inputs[9], inputs[10], inputs[11]])
            let layer = HostTensor(
                shape: [1, h], data: zip(sums[0].data, sums[1].data).map { DType.roundToBF16($0 + $1) })
            let check = NumericCheck.compare(
                [layer], [expected], types: [.bf16], problem: Problem(names: [], values: []), tolerance: 2e-2)
            #expect(check.passed, "two fused blocks, lnc=\(lnc): \(check.reason ?? "")")
        }
    }
}
