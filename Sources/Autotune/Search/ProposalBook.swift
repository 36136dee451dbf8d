import KernelSpace

/// The bookkeeping every learning search shares: configurations as per-parameter domain indices,
/// what has been proposed (never twice), what was measured, the budget and the census, and a
/// seeded random fill so no valid configuration is out of reach when a strategy's own moves run dry.
struct ProposalBook {
    let space: SearchSpace
    let problem: Problem
    let limit: Int
    private(set) var census = ExclusionCensus()
    private var seen = Set<[Int]>()
    /// Measured latency of each proposed point (infinity for failures and invalid variants).
    private(set) var results: [[Int]: Double] = [:]
    /// Points in the order their results came.
    private(set) var observed: [[Int]] = []
    private var proposedDefault = false
    private var draws: SpaceDraws
    private var drawnOut = false
    /// Random draws allowed in all: the whole space without a budget, else 64 per budgeted
    /// configuration (at least 2^18), so a space where almost nothing is valid ends in seconds.
    private let drawLimit: Int
    private var drawsTaken = 0
    private let radices: [Int]

    init(space: SearchSpace, problem: Problem, budget: Int?, seed: UInt64) {
        self.space = space
        self.problem = problem
        limit = budget ?? Int.max
        radices = space.parameters.map { $0.domain.values.count }
        draws = SpaceDraws(space: space, problem: problem, seed: seed ^ 0xB00C)
        let wanted = budget.map { $0.multipliedReportingOverflow(by: 64) }
        drawLimit =
            wanted.map { $0.overflow ? space.size : min(space.size, max($0.partialValue, 1 << 18)) } ?? space.size
    }

    /// Domain sizes per parameter.
    var domainSizes: [Int] { radices }

    /// Whether the budget is spent or every configuration has been looked at.
    var isFull: Bool { census.proposed >= limit || drawnOut }

    /// A new batch: the space's default configuration first, in the first batch only.
    mutating func startBatch() -> [Configuration] {
        var chosen: [Configuration] = []
        if !proposedDefault {
            proposedDefault = true
            offer(point(space.defaultConfiguration), into: &chosen)
        }
        return chosen
    }

    /// Whether `point` was proposed before.
    func wasProposed(_ point: [Int]) -> Bool { seen.contains(point) }

    /// Whether `point` passes the space's restrictions (nothing is counted).
    func isValid(_ point: [Int]) -> Bool { space.exclusion(configuration(point), for: problem) == nil }

    /// The configuration at `point`.
    func configuration(_ point: [Int]) -> Configuration { space.configuration(positions: point) }

    /// The point of a configuration (its values' positions in their domains).
    func point(_ configuration: Configuration) -> [Int] {
        zip(space.parameters, configuration.values).map { parameter, value in
            parameter.domain.values.firstIndex(of: value) ?? 0
        }
    }

    /// The point of a configuration of the space's parameters, or nil when a parameter is missing
    /// or its value is not in the space's domain.
    func exactPoint(_ configuration: Configuration) -> [Int]? {
        var point: [Int] = []
        for parameter in space.parameters {
            guard configuration.names.contains(parameter.name),
                let position = parameter.domain.values.firstIndex(of: configuration[parameter.name])
            else { return nil }
            point.append(position)
        }
        return point
    }

    /// Proposes `point` if it is new, passes the restrictions and the budget allows; says whether it did.
    @discardableResult
    mutating func offer(_ point: [Int], into chosen: inout [Configuration]) -> Bool {
        guard census.proposed < limit, seen.insert(point).inserted else { return false }
        let configuration = configuration(point)
        if let reason = space.exclusion(configuration, for: problem) {
            census.exclude(reason)
            return false
        }
        census.considered += 1
        census.proposed += 1
        chosen.append(configuration)
        return true
    }

    /// Fills `chosen` up to `count` with seeded random points not proposed before, after at most
    /// `work` draws. Once the draws are spent (every index, or the limit), the book is drawn out.
    mutating func fillRandomly(_ chosen: inout [Configuration], upTo count: Int, work: Int = 20_000) {
        var tries = 0
        while chosen.count < count && census.proposed < limit && tries < work {
            guard let index = nextDraw() else { return }
            tries += 1
            offer(point(space.configuration(at: index)), into: &chosen)
        }
    }

    /// Up to `count` valid points not proposed before, drawn at random but not proposed (a
    /// strategy ranks them first); excluded ones are counted in the census as they are met.
    mutating func drawCandidates(upTo count: Int, work: Int) -> [[Int]] {
        var found: [[Int]] = []
        var tries = 0
        while found.count < count && tries < work {
            guard let index = nextDraw() else { break }
            tries += 1
            let configuration = space.configuration(at: index)
            let point = point(configuration)
            guard !seen.contains(point) else { continue }
            if let reason = space.exclusion(configuration, for: problem) {
                seen.insert(point)
                census.exclude(reason)
                continue
            }
            found.append(point)
        }
        return found
    }

    /// The next random index, or nil (and the book drawn out) once the draws are spent.
    private mutating func nextDraw() -> Int? {
        guard drawsTaken < drawLimit, let index = draws.next() else {
            drawnOut = true
            return nil
        }
        drawsTaken += 1
        return index
    }

    /// Proposals made against the budget (or the space's size without one).
    var progress: (done: Int, total: Int) {
        (census.proposed, limit == .max ? max(1, space.size) : limit)
    }

    /// Up to `count` measured points with finite latency, fastest first.
    func fastest(_ count: Int) -> [[Int]] {
        Array(
            observed.filter { results[$0, default: .infinity].isFinite }
                .sorted { results[$0]! < results[$1]! }.prefix(count))
    }

    /// A neighbour of `point`: one parameter (sometimes two) moved to an adjacent value of its
    /// domain, or now and then to any value.
    func neighbour(of point: [Int], _ generator: inout SplitMix64) -> [Int] {
        var moved = point
        let changes = generator.next() % 4 == 0 ? 2 : 1
        for _ in 0..<changes {
            let index = Int(generator.next() % UInt64(point.count))
            let size = radices[index]
            guard size > 1 else { continue }
            if generator.next() % 4 == 0 {
                moved[index] = Int(generator.next() % UInt64(size))
            } else {
                let step = generator.next() % 2 == 0 ? -1 : 1
                moved[index] = min(size - 1, max(0, moved[index] + step))
            }
        }
        return moved
    }

    /// Records results of proposed configurations.
    mutating func record(_ results: [(configuration: Configuration, measurement: Measurement)]) {
        for (configuration, measurement) in results {
            let point = point(configuration)
            let latency = measurement.status == .ok ? measurement.latency ?? .infinity : .infinity
            if self.results[point] == nil { observed.append(point) }
            self.results[point] = latency
        }
    }
}

/// A search that keeps its books in a ``ProposalBook``: the budget, census and progress are its.
protocol BookkeepingSearch: SearchStrategy {
    var book: ProposalBook { get }
}

extension BookkeepingSearch {
    var isExhausted: Bool { book.isFull }
    var census: ExclusionCensus { book.census }
    var progress: (done: Int, total: Int) { book.progress }
}
