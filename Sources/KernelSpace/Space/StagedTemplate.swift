/// A template chained from other templates (its stages) in one kernel: its parameters are the
/// stages' own, each prefixed, less those the block sets itself, then the block's own.
///
/// A block is a sensible variant when each stage's configuration is one for that stage's problem,
/// so the block's valid configurations are (given its own parameters) the product of its stages'
/// valid configurations: ``SpaceDraws`` samples them stage by stage instead of rejecting the
/// product's draws, where very few are valid.
public protocol StagedTemplate: KernelTemplate {
    /// The stages in the order they run, each with the prefix of its parameters.
    var stages: [(prefix: String, template: any KernelTemplate)] { get }
    /// The block's own parameters (not a stage's), listed after the stages'.
    var blockParameters: [Parameter] { get }
    /// Each stage's problem, in ``stages`` order.
    func stageProblems(_ problem: Problem) -> [Problem]
    /// Whether the block sets parameter `name` of stage `stage` itself instead of searching it.
    func sets(_ stage: Int, _ name: String) -> Bool
    /// A stage's own configuration for `problem`, read from the block's prefixed parameters and
    /// the values the block sets.
    func configuration(of stage: Int, _ configuration: Configuration, for problem: Problem) -> Configuration
    /// Why the block cannot run `problem` at all whatever the configuration, or nil.
    func blockRestriction(for problem: Problem) -> String?
}

extension StagedTemplate {
    /// By default the block searches every stage parameter.
    public func sets(_ stage: Int, _ name: String) -> Bool { false }

    /// By default every problem of the block's fields can run.
    public func blockRestriction(for problem: Problem) -> String? { nil }

    /// Every stage's parameters the block does not set, prefixed, then ``blockParameters``.
    public var parameters: [Parameter] {
        stages.enumerated().flatMap { index, stage in
            stage.template.parameters.filter { !sets(index, $0.name) }.map {
                Parameter(stage.prefix + $0.name, $0.domain, default: $0.defaultValue, $0.summary)
            }
        } + blockParameters
    }

    /// Every stage's searched numerics parameters, prefixed.
    public var numericParameters: Set<String> {
        Set(
            stages.enumerated().flatMap { index, stage in
                stage.template.numericParameters.filter { !sets(index, $0) }.map { stage.prefix + $0 }
            })
    }

    /// The stages' compiler hints on the parameters the block searches, prefixed.
    public var compilerHints: [String: String] {
        Dictionary(
            uniqueKeysWithValues: stages.enumerated().flatMap { index, stage in
                stage.template.compilerHints.filter { !sets(index, $0.key) }.map { (stage.prefix + $0.key, $0.value) }
            })
    }

    /// The block's configuration with each stage's searched parameters taken from that stage's own
    /// configuration (each stage's tuned best, say), in ``stages`` order, and the block's own
    /// parameters at their defaults.
    public func configuration(stages configurations: [Configuration]) -> Configuration {
        var values: [ParameterValue] = []
        for (index, stage) in stages.enumerated() {
            for parameter in stage.template.parameters where !sets(index, parameter.name) {
                values.append(configurations[index][parameter.name])
            }
        }
        return Configuration(names: parameters.map(\.name), values: values + blockParameters.map(\.defaultValue))
    }

    /// The block's restriction, then the first stage that is not a sensible variant, with its prefix.
    public func restriction(_ configuration: Configuration, for problem: Problem) -> String? {
        if let reason = blockRestriction(for: problem) { return reason }
        for (index, stageProblem) in stageProblems(problem).enumerated() {
            if let reason = stageRestriction(index, configuration, for: problem, stageProblem: stageProblem) {
                return reason
            }
        }
        return nil
    }

    /// Why stage `index` of `configuration` is not a sensible variant of its problem, with its prefix.
    public func stageRestriction(
        _ index: Int, _ configuration: Configuration, for problem: Problem, stageProblem: Problem
    ) -> String? {
        let stage = stages[index]
        return stage.template.restriction(self.configuration(of: index, configuration, for: problem), for: stageProblem)
            .map { "\(stage.prefix.dropLast()): \($0)" }
    }
}
