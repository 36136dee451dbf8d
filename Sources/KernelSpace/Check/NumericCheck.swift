/// The outcome of running a variant's program on the interpreter against the template's reference.
public struct CheckResult: Sendable, Equatable {
    /// Whether it passed.
    public var passed: Bool
    /// Largest absolute difference relative to the largest reference magnitude (infinity for NaN).
    public var error: Double
    /// Why it failed, with the numbers.
    public var reason: String?
}

/// Checks a configuration numerically on a small problem of the same structure.
public enum NumericCheck {
    /// Runs the configuration's program for `template.checkProblem(...)` and compares it with the reference.
    public static func run(
        _ template: any KernelTemplate, problem: Problem, configuration: Configuration, seed: UInt64 = 1
    ) -> CheckResult {
        let small = template.checkProblem(for: problem, configuration: configuration)
        let inputs = template.inputs(for: small, seed: seed)
        let expected = template.reference(for: small, inputs: inputs)
        let program = template.program(for: small, configuration: configuration)
        let outputs: [HostTensor]
        do {
            outputs = try Interpreter.run(
                program, inputs: template.arguments(inputs, problem: small, configuration: configuration))
        } catch {
            return CheckResult(passed: false, error: .infinity, reason: "interpreter: \(error.message)")
        }
        return compare(
            outputs, expected, types: program.outputs.map(\.dtype), problem: small,
            tolerance: template.tolerance(for: small))
    }

    /// Compares kernel outputs with the reference: integer outputs (indices) must match exactly,
    /// the others within `tolerance` (relative to the largest reference magnitude).
    public static func compare(
        _ outputs: [HostTensor], _ expected: [HostTensor], types: [DType], problem: Problem, tolerance: Double
    ) -> CheckResult {
        var worst = 0.0
        for (index, (got, want)) in zip(outputs, expected).enumerated() {
            if types[index] == .int32 {
                if got.shape != want.shape || got.data != want.data {
                    let position =
                        got.data.indices.first { $0 >= want.data.count || got.data[$0] != want.data[$0] } ?? 0
                    return CheckResult(
                        passed: false, error: .infinity,
                        reason: "wrong answer on \(problem.key): output \(index) differs at element \(position)")
                }
                continue
            }
            worst = max(worst, relativeError(got, want))
        }
        if outputs.count == expected.count && worst <= tolerance {
            return CheckResult(passed: true, error: worst, reason: nil)
        }
        return CheckResult(
            passed: false, error: worst,
            reason: "wrong answer on \(problem.key): relative error \(worst) exceeds \(tolerance)")
    }

    /// Largest |got - want| relative to the largest |want|; infinity on NaN or a shape mismatch.
    public static func relativeError(_ got: HostTensor, _ want: HostTensor) -> Double {
        guard got.shape == want.shape else { return .infinity }
        var worst = 0.0
        var scale = 1e-6
        for (a, b) in zip(got.data, want.data) {
            if a.isNaN || b.isNaN { return .infinity }
            worst = max(worst, Double(abs(a - b)))
            scale = max(scale, Double(abs(b)))
        }
        return worst / scale
    }
}

extension NumericCheck {
    /// Whether a configuration's outputs are bit-identical to a reference configuration's, both run
    /// on the interpreter for the configuration's check problem; on a difference, where it is.
    public static func bitExact(
        _ template: any KernelTemplate, problem: Problem, configuration: Configuration, reference: Configuration,
        seed: UInt64 = 1
    ) -> (exact: Bool, reason: String?) {
        let small = template.checkProblem(for: problem, configuration: configuration)
        let inputs = template.inputs(for: small, seed: seed)
        do {
            let got = try Interpreter.run(
                template.program(for: small, configuration: configuration),
                inputs: template.arguments(inputs, problem: small, configuration: configuration))
            let want = try Interpreter.run(
                template.program(for: small, configuration: reference),
                inputs: template.arguments(inputs, problem: small, configuration: reference))
            for (index, (a, b)) in zip(got, want).enumerated() {
                if let position = a.data.indices.first(where: { a.data[$0].bitPattern != b.data[$0].bitPattern }) {
                    return (
                        false,
                        "not bit-exact to the reference on \(small.key): output \(index) element \(position) is "
                            + "\(a.data[position]), reference \(b.data[position])"
                    )
                }
            }
            return (true, nil)
        } catch {
            return (false, "interpreter: \(error.message)")
        }
    }
}
