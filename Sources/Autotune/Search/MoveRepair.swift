import KernelSpace

/// Makes a move the restrictions refuse valid by changing other parameters step by step: a
/// weight operand, say, that needs its tile sizes changed together and the orders it ignores at
/// their defaults. A step changes one parameter, or every parameter the reason in the way names
/// at once; it takes the first change that makes the point valid, else the first that leads to a
/// new reason naming none of the parameters it changed (the change cleared the rule in the way
/// without breaking one of its own), else the first that leads to a new reason.
///
/// ```swift
/// var checks = 0
/// let repair = MoveRepair(space: space, problem: problem)
/// let valid = repair.repaired(point, keeping: operandPosition, checks: &checks)
/// ```
struct MoveRepair {
    /// Steps a repair takes at most.
    static let steps = 6
    /// Joint assignments of the named parameters a step tries at most.
    static let jointLimit = 512

    let space: SearchSpace
    let problem: Problem
    private let domainSizes: [Int]

    init(space: SearchSpace, problem: Problem) {
        self.space = space
        self.problem = problem
        domainSizes = space.parameters.map { $0.domain.values.count }
    }

    /// Why `point` is not a variant, or nil if it is.
    func exclusion(_ point: [Int]) -> String? {
        space.exclusion(space.configuration(positions: point), for: problem)
    }

    /// A valid point that keeps `start`'s value at `moved`, at most ``steps`` steps away; nil when
    /// no step helps or the restriction checks counted in `checks` reach `limit`.
    func repaired(_ start: [Int], keeping moved: Int, checks: inout Int, limit: Int = .max) -> [Int]? {
        var point = start
        guard var reason = exclusion(point) else { return point }
        var seen: Set<String> = [reason]
        for _ in 0..<Self.steps {
            var clean: (point: [Int], reason: String)?
            var fallback: (point: [Int], reason: String)?
            for (candidate, changed) in candidates(point, reason: reason, keeping: moved) {
                guard checks < limit else { return nil }
                checks += 1
                guard let next = exclusion(candidate) else { return candidate }
                guard !seen.contains(next) else { continue }
                if clean == nil && !changed.contains(where: { names(next, $0) }) { clean = (candidate, next) }
                if fallback == nil { fallback = (candidate, next) }
            }
            guard let step = clean ?? fallback else { return nil }
            (point, reason) = step
            seen.insert(reason)
        }
        return nil
    }

    /// Whether `reason` names the parameter at `index`: by its name, or, in a fused block's reason
    /// about one stage (`qkv: ...`), by the stage's name for it (`tile_n` for `qkv_tile_n`).
    private func names(_ reason: String, _ index: Int) -> Bool {
        let name = space.parameters[index].name
        if let colon = reason.range(of: ": ") {
            let stage = reason[..<colon.lowerBound] + "_"
            if !stage.contains(" ") && name.hasPrefix(stage) {
                return reason[colon.upperBound...].contains(name.dropFirst(stage.count))
            }
        }
        return reason.contains(name)
    }

    /// The changes a step tries, in order, each with the positions it changes: one parameter the
    /// reason names, then all of them at once (when two or three, with at most ``jointLimit``
    /// assignments), then one of the rest.
    private func candidates(_ point: [Int], reason: String, keeping moved: Int) -> [(point: [Int], changed: [Int])] {
        let named = point.indices.filter { $0 != moved && names(reason, $0) }
        let rest = point.indices.filter { $0 != moved && !named.contains($0) }
        func singles(_ indices: [Int]) -> [(point: [Int], changed: [Int])] {
            indices.flatMap { index in
                (0..<domainSizes[index]).filter { $0 != point[index] }.map { value in
                    var candidate = point
                    candidate[index] = value
                    return (candidate, [index])
                }
            }
        }
        var joint: [(point: [Int], changed: [Int])] = []
        if (2...3).contains(named.count) && named.map({ domainSizes[$0] }).reduce(1, *) <= Self.jointLimit {
            var assignments: [[Int]] = [point]
            for index in named {
                assignments = assignments.flatMap { partial in
                    (0..<domainSizes[index]).map { value in
                        var next = partial
                        next[index] = value
                        return next
                    }
                }
            }
            joint = assignments.filter { candidate in named.allSatisfy { candidate[$0] != point[$0] } }
                .map { ($0, named) }
        }
        return singles(named) + joint + singles(rest)
    }
}
