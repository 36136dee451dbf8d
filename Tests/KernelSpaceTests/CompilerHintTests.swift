import KernelSpace
import MoEModel
import Testing

/// The kernel that runs is the kernel that was timed: a parameter that changes the program the
/// performance model times must change the emitted source (comments aside), or be declared a
/// compiler hint with its reason.
@Suite struct CompilerHintTests {
    /// The source without comment lines or trailing comments.
    static func code(_ source: String) -> String {
        source.split(separator: "\n").compactMap { line -> Substring? in
            guard !line.trimmingCharacters(in: .whitespaces).hasPrefix("#") else { return nil }
            return line.range(of: "  #").map { line[..<$0.lowerBound] } ?? line
        }.joined(separator: "\n")
    }

    @Test(arguments: Deployment(model: .qwen3MoE30BA3B, target: "trn2").tasks().enumerated().map { $0 })
    func everyTimedParameterShowsInTheSourceOrIsAHint(index: Int, task: ModelTask) {
        let template = task.template
        let space = SearchSpace(template)
        var silent: [String: String] = [:]
        for configuration in validConfigurations(space, task.problem, limit: 8, seed: UInt64(index + 41)) {
            let program = template.program(for: task.problem, configuration: configuration)
            let source = Self.code(NKIEmitter.emit(program, header: []))
            for parameter in template.parameters {
                for value in parameter.domain.values where value != configuration[parameter.name] {
                    var changed = configuration
                    changed.values[changed.names.firstIndex(of: parameter.name)!] = value
                    guard template.restriction(changed, for: task.problem) == nil else { continue }
                    let other = template.program(for: task.problem, configuration: changed)
                    // Same program to the model (digest covers source, buffer copies, DMA queues): nothing to show.
                    guard other.digest != program.digest else { continue }
                    if Self.code(NKIEmitter.emit(other, header: [])) == source {
                        silent[parameter.name] = "\(parameter.name)=\(configuration[parameter.name]) -> \(value)"
                    }
                }
            }
        }
        for (name, example) in silent.sorted(by: { $0.key < $1.key }) {
            #expect(
                template.compilerHints[name] != nil,
                "\(template.id): changing \(example) changes the timed program but not the source; show it or declare it a compiler hint"
            )
        }
        for name in template.compilerHints.keys {
            #expect(template.parameters.contains { $0.name == name }, "\(template.id): hint \(name) is not a parameter")
        }
    }
}
