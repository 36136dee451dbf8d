/// A loop's trip count read on the device (NKI's `nl.dynamic_range` over a register loaded from
/// SBUF), such as whether a block of a routing's tables holds any token.
///
/// The loop runs `min(trips, value)` times, where `value` is the int32 at ``source`` when the loop
/// is reached (none when it is 0 or less). Its loop variable is a device register in the emitted
/// source, so the body must not mention it: a counted loop of this kind is a run-time guard or a
/// repeat, and the body addresses its data through outer loop variables or run-time offsets.
///
/// Iterations past the count must change nothing the kernel returns: an SDK release without
/// dynamic loops runs the loop `trips` times (``NKIEmitter``), and the tests check that running them
/// all gives the same bits.
///
/// ```swift
/// // Runs a block's statements only when its flag in `active_sb[0, blk]` is set.
/// let guarded = Loop(
///     live, trips: 1,
///     runtime: RuntimeCount(source: Access(active, [.full(1), .index(.term(blk))]), expected: .const(1)),
///     body: blockStatements)
/// ```
public struct RuntimeCount: Hashable, Sendable {
    /// The int32 SBUF element holding the count; may depend on outer loop variables.
    public var source: Access
    /// The count the performance model assumes, from outer loop variables (clamped to 0...trips):
    /// the value the problem's own scenario (a routing) puts at ``source``.
    public var expected: Affine

    /// Creates a value with every field given.
    public init(source: Access, expected: Affine) {
        self.source = source
        self.expected = expected
    }
}

extension KernelProgram {
    /// Whether some loop's count is read on the device (a release without dynamic loops runs
    /// such a loop's every trip; see ``NKIRelease/hasDynamicLoops``).
    public var countsOnDevice: Bool {
        func any(_ statements: [Stmt]) -> Bool {
            statements.contains { statement in
                guard case .loop(let loop) = statement else { return false }
                return loop.runtime != nil || any(loop.body)
            }
        }
        return any(body)
    }

    /// The program as a release without dynamic loops runs it: every loop counted on the device
    /// runs all its trips.
    public var runningEveryTrip: KernelProgram {
        func strip(_ statements: [Stmt]) -> [Stmt] {
            statements.map { statement in
                guard case .loop(var loop) = statement else { return statement }
                loop.runtime = nil
                loop.body = strip(loop.body)
                return .loop(loop)
            }
        }
        var program = self
        program.body = strip(body)
        return program
    }
}

extension Stmt {
    /// Whether the statement reads loop variable `id` anywhere: in a region, a loop's bounds, an
    /// `iota` offset or an accumulation group.
    func mentions(_ id: Int) -> Bool {
        func inAffine(_ affine: Affine?) -> Bool { affine?.terms.contains { $0.variable == id } ?? false }
        func inAccess(_ access: Access) -> Bool {
            access.ranges.contains { inAffine($0.start) || inAffine($0.limit) }
                || (access.dynamic?.ranges.contains { inAffine($0.start) || inAffine($0.limit) } ?? false)
        }
        switch self {
        case .loop(let loop):
            return inAffine(loop.limit) || loop.runtime.map { inAccess($0.source) || inAffine($0.expected) } ?? false
                || loop.body.contains { $0.mentions(id) }
        case .allocate, .barrier: return false
        case .op(let instruction):
            if case .iota(_, _, _, let offset) = instruction, inAffine(offset) { return true }
            if case .matmul(_, _, _, .acrossLoops(let loops)) = instruction, loops.contains(id) { return true }
            return (instruction.destinations + instruction.sources).contains(where: inAccess)
        }
    }
}
