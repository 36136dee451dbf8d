/// Seeded random draws of a space's configurations for one problem, as distinct mixed-radix
/// indices (``SearchSpace/configuration(at:)``): the random order every sampling search walks.
///
/// Most spaces are drawn uniformly (``IndexDraws``). A space of a ``StagedTemplate`` is drawn stage
/// by stage: the block's own parameters uniformly, then each stage's parameters redrawn until that
/// stage is a sensible variant of its problem, so every draw is valid where uniform draws of the
/// product are mostly refused.
/// A stage that finds no sensible variant in ``stageTries`` draws leaves that draw uniform, so the
/// search's census still meets and names what is refused; the block's values it failed under are
/// remembered, and a later draw of the same values goes uniform at once instead of trying again.
///
/// ```swift
/// var draws = SpaceDraws(space: SearchSpace(template), problem: problem, seed: 7)
/// let first = draws.next().map(space.configuration(at:))
/// ```
public struct SpaceDraws: Sendable {
    /// Draws of one stage's parameters before the draw is left uniform.
    public static let stageTries = 4096
    /// Draws in a row that repeat earlier ones before the valid part is taken as drawn out.
    static let repeatLimit = 256

    private var uniform: IndexDraws
    private let staged: Staged?
    private var generator: SplitMix64
    private var drawn = Set<Int>()
    /// Stages, each with the block's values (positions), under which the stage found no sensible
    /// variant.
    private var hopeless = Set<[Int]>()

    /// What stage-by-stage drawing needs: the template, the problem and its stages' problems, and
    /// which of the space's parameters belong to the block (`nil`) or to each stage.
    private struct Staged: Sendable {
        let template: any StagedTemplate
        let space: SearchSpace
        let problem: Problem
        let stageProblems: [Problem]
        let blockPositions: [Int]
        let stagePositions: [[Int]]
    }

    /// Draws of `space` for `problem`, reproducible from `seed`.
    public init(space: SearchSpace, problem: Problem, seed: UInt64) {
        uniform = IndexDraws(total: max(1, space.size), seed: seed)
        generator = SplitMix64(seed: seed ^ 0x5747_4745)
        guard let template = space.template as? any StagedTemplate, space.size < Int.max,
            template.blockRestriction(for: problem) == nil
        else {
            staged = nil
            return
        }
        var stagePositions = [[Int]](repeating: [], count: template.stages.count)
        var blockPositions: [Int] = []
        for (position, parameter) in space.parameters.enumerated() {
            let stage = template.stages.indices.first { index in
                let (prefix, stage) = template.stages[index]
                return parameter.name.hasPrefix(prefix)
                    && stage.parameters.contains { prefix + $0.name == parameter.name }
            }
            if let stage { stagePositions[stage].append(position) } else { blockPositions.append(position) }
        }
        staged = Staged(
            template: template, space: space, problem: problem, stageProblems: template.stageProblems(problem),
            blockPositions: blockPositions, stagePositions: stagePositions)
    }

    /// The next index not drawn before; nil once the space (or, drawn stage by stage, its valid
    /// part) is drawn out.
    public mutating func next() -> Int? {
        guard let staged else { return uniform.next() }
        var repeats = 0
        while repeats < Self.repeatLimit {
            let index = draw(staged) ?? uniform.next()
            guard let index else { return nil }
            if drawn.insert(index).inserted { return index }
            repeats += 1
        }
        return nil
    }

    /// One stage-by-stage draw, or nil when a stage found no sensible variant.
    private mutating func draw(_ staged: Staged) -> Int? {
        let parameters = staged.space.parameters
        var positions = parameters.map { _ in 0 }
        for position in staged.blockPositions { positions[position] = random(below: parameters[position]) }
        let block = staged.blockPositions.map { positions[$0] }
        for (stage, stagePositions) in staged.stagePositions.enumerated() {
            let key = [stage] + block
            guard !hopeless.contains(key) else { return nil }
            var tries = 0
            repeat {
                guard tries < Self.stageTries else {
                    hopeless.insert(key)
                    return nil
                }
                tries += 1
                for position in stagePositions { positions[position] = random(below: parameters[position]) }
            } while staged.template.stageRestriction(
                stage, staged.space.configuration(positions: positions), for: staged.problem,
                stageProblem: staged.stageProblems[stage]) != nil
        }
        return zip(parameters, positions).reduce(0) { $0 * $1.0.domain.values.count + $1.1 }
    }

    private mutating func random(below parameter: Parameter) -> Int {
        Int(generator.next() % UInt64(parameter.domain.values.count))
    }
}
