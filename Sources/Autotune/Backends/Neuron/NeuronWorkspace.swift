import CostModel
import Foundation
import KernelSpace

/// The neuron backend's files: per problem its inputs and the reference outputs (`data/`), per
/// variant its kernel, job, NEFF and logs (`variants/`). Directory names are digests of typed
/// values; a file is written once, atomically, so a crash never leaves half a tensor behind.
final class NeuronWorkspace: @unchecked Sendable {
    let root: String
    private let lock = NSLock()
    /// The problem whose inputs are held in memory (arguments are derived from them per variant).
    private var held: (key: String, inputs: [HostTensor], outputs: [NeuronJob.Output])?

    init(root: String) throws(AutotuneError) {
        self.root = root
        do {
            for folder in ["data", "variants", "health"] {
                try FileManager.default.createDirectory(
                    atPath: (root as NSString).appendingPathComponent(folder), withIntermediateDirectories: true)
            }
        } catch {
            throw AutotuneError(.backend, "neuron backend: cannot create its work directory \(root): \(error)")
        }
    }

    /// 16 hexadecimal digits of FNV-1a over `text`.
    static func digest(_ text: String) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// 16 hexadecimal digits of FNV-1a over a tensor's shape and element bits.
    static func digest(_ tensor: HostTensor) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for value in tensor.shape.map(UInt32.init) + tensor.data.map(\.bitPattern) {
            hash ^= UInt64(value)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The outputs a variant must produce: the template's reference, or under `--exact` the
    /// reference configuration's outputs as the interpreter computes them.
    static func expected(_ variant: Variant, inputs: [HostTensor], exactReference: String?) throws -> [HostTensor] {
        guard let exactReference else { return variant.template.reference(for: variant.problem, inputs: inputs) }
        let reference = try SearchSpace(variant.template).parse(exactReference)
        let program = variant.template.program(for: variant.problem, configuration: reference)
        return try Interpreter.run(
            program, inputs: variant.template.arguments(inputs, problem: variant.problem, configuration: reference))
    }

    /// The directory of a variant whose kernel source is `source` under `toolchain`.
    func variantDirectory(source: String, toolchain: String) -> String {
        (root as NSString).appendingPathComponent("variants/" + Self.digest(toolchain + "\n" + source))
    }

    /// Writes the variant's kernel and job (inputs and reference outputs written once per problem
    /// and argument content) and returns the job's path.
    func prepare(
        _ variant: Variant, program: KernelProgram, source: String, directory: String, options: NeuronOptions
    ) throws -> String {
        let template = variant.template
        let problemKey =
            "\(template.id) \(variant.problem.key) \(variant.target.name)"
            + (options.exactReference.map { " exact \($0)" } ?? "")
        let data = (root as NSString).appendingPathComponent("data/" + Self.digest(problemKey))
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let (inputs, outputs) = try lock.withLock { () throws -> ([HostTensor], [NeuronJob.Output]) in
            if let held, held.key == problemKey { return (held.inputs, held.outputs) }
            let inputs = template.inputs(for: variant.problem, seed: 1)
            let expected = try Self.expected(variant, inputs: inputs, exactReference: options.exactReference)
            var outputs: [NeuronJob.Output] = []
            for (index, declaration) in program.outputs.enumerated() {
                let file = (data as NSString).appendingPathComponent("expected-\(index).npy")
                if !FileManager.default.fileExists(atPath: file) {
                    try NPYFile.write(expected[index], as: declaration.dtype, to: file)
                }
                outputs.append(
                    NeuronJob.Output(
                        name: declaration.name, shape: declaration.shape, dtype: NeuronJob.name(of: declaration.dtype),
                        expected: file))
            }
            held = (problemKey, inputs, outputs)
            return (inputs, outputs)
        }
        let arguments = template.arguments(inputs, problem: variant.problem, configuration: variant.configuration)
        var jobInputs: [NeuronJob.Input] = []
        for (declaration, tensor) in zip(program.inputs, arguments) {
            let file = (data as NSString).appendingPathComponent("\(declaration.name)-\(Self.digest(tensor)).npy")
            if !FileManager.default.fileExists(atPath: file) {
                try NPYFile.write(tensor, as: declaration.dtype, to: file)
            }
            jobInputs.append(
                NeuronJob.Input(name: declaration.name, file: file, dtype: NeuronJob.name(of: declaration.dtype)))
        }
        let kernel = (directory as NSString).appendingPathComponent("kernel.py")
        try source.write(toFile: kernel, atomically: true, encoding: .utf8)
        guard program.cores <= options.lnc else {
            throw AutotuneError(
                .backend, "\(program.name) runs on \(program.cores) cores of a logical core: tune it with --lnc 2")
        }
        let job = NeuronJob(
            kernelFile: "kernel.py", function: program.name, target: variant.target.name, lnc: options.lnc,
            cores: program.cores,
            inputs: jobInputs, outputs: outputs, tolerance: template.tolerance(for: variant.problem),
            exact: options.exactReference != nil, warmup: options.warmup, iterations: options.iterations)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let path = (directory as NSString).appendingPathComponent("job.json")
        try encoder.encode(job).write(to: URL(fileURLWithPath: path), options: .atomic)
        return path
    }
}
