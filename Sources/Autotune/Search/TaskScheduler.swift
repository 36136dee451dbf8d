/// How a whole-model run shares its budget among tasks.
public enum SchedulePolicy: String, Sendable, CaseIterable {
    /// After a warm-up slice for every task, each slice goes to the task with the largest expected
    /// reduction of the weighted total (in the manner of Ansor's and MetaSchedule's gradient
    /// scheduler).
    case gradient
    /// Slices go to the tasks in turn.
    case roundRobin = "round-robin"
}

/// Chooses which task of a model gets the next slice of the budget. Pure: it sees only what the
/// tuner tells it after each slice.
///
/// After a warm-up slice for every task, the gradient policy gives the next slice to the task with
/// the largest expected reduction of the weighted total: `weight x s / (n + s) x spacing`, capped
/// by the task's headroom above its floor. `n` variants have been tried, so each of the slice's `s`
/// new ones beats the best with probability about `1 / (n + 1)` (any draw is equally likely to be
/// the smallest so far), and when one does it gains about the spacing of the lowest latencies
/// found (the mean gap among the five fastest distinct latencies: variants that differ only in
/// what does not change the time would make it zero). Counting `n` from the cache makes a resumed run
/// pick up where it was.
///
/// ```swift
/// var scheduler = TaskScheduler(weights: [100, 1], slice: 32, policy: .gradient)
/// let first = scheduler.order().first
/// ```
public struct TaskScheduler: Sendable {
    /// How many of a task's fastest distinct latencies give its spacing.
    public static let spacingSample = 5

    private struct State: Sendable {
        var weight: Double
        var slices = 0
        var fastest: [Double] = []
        var tried = 0
        var floor = 0.0
        var exhausted = false
    }

    private var tasks: [State]
    private let slice: Int
    /// The policy.
    public let policy: SchedulePolicy

    /// A scheduler of tasks with these weights, giving slices of `slice` measurements.
    public init(weights: [Double], slice: Int, policy: SchedulePolicy) {
        tasks = weights.map { State(weight: $0) }
        self.slice = max(1, slice)
        self.policy = policy
    }

    /// Records a finished slice of task `index`: its fastest latencies so far, ascending (empty
    /// when nothing valid yet), how many variants it has tried in all, the floor under it, and
    /// whether its search has nothing left to propose.
    public mutating func record(_ index: Int, fastest: [Double], tried: Int, floor: Double, exhausted: Bool) {
        tasks[index].slices += 1
        tasks[index].fastest = Array(Array(Set(fastest)).sorted().prefix(Self.spacingSample))
        tasks[index].tried = tried
        tasks[index].floor = floor
        tasks[index].exhausted = exhausted
    }

    /// Slices task `index` has had.
    public func slices(_ index: Int) -> Int { tasks[index].slices }

    /// Whether every task's search is exhausted.
    public var isFinished: Bool { tasks.allSatisfy(\.exhausted) }

    /// Tasks that may still get slices, the preferred first (a caller takes the first it can
    /// lease).
    public func order() -> [Int] {
        let open = tasks.indices.filter { !tasks[$0].exhausted }
        let warmUp = open.filter { tasks[$0].slices == 0 }
        if !warmUp.isEmpty { return warmUp + open.filter { tasks[$0].slices > 0 } }
        switch policy {
        case .roundRobin:
            return open.sorted { (slices($0), $0) < (slices($1), $1) }
        case .gradient:
            let priorities = open.map { (index: $0, priority: priority($0)) }
            return priorities.sorted { ($0.priority, -$0.index) > ($1.priority, -$1.index) }.map(\.index)
        }
    }

    /// The expected reduction of the weighted total from one more slice of task `index`.
    public func priority(_ index: Int) -> Double {
        let task = tasks[index]
        guard let best = task.fastest.first, let last = task.fastest.last else { return .infinity }
        let spacing = task.fastest.count > 1 ? (last - best) / Double(task.fastest.count - 1) : best
        let chance = Double(slice) / Double(task.tried + slice)
        return task.weight * min(max(0, best - task.floor), chance * spacing)
    }
}
