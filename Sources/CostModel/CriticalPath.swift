/// The chain of instructions behind a kernel's end: from the event that ends last, each step back
/// to the event it waited for last (``TraceEvent/waited``), to the kernel's start. Its time is the
/// kernel's device time, split into what the steps ran and what they waited for between them:
/// only shortening this chain makes the kernel faster.
///
/// ```swift
/// let (_, events) = Timeline.trace(program, on: .trn2)
/// for (what, time) in CriticalPath(events).totals { print(what, time) }
/// ```
public struct CriticalPath: Sendable {
    /// One event on the path, with the wait before it.
    public struct Step: Sendable, Hashable {
        /// The event.
        public var event: TraceEvent
        /// ns from the end of the step before (or the kernel's start) to this one's start: a DMA's
        /// start-up latency and queueing, or the rest of the cores reaching a barrier.
        public var wait: Double

        /// What its own time is spent on: its engine (`TensorE`, ...), `DMA transfers`, or `barrier`.
        public var activity: String {
            if event.kind == "barrier" { return "barrier" }
            if case .dmaQueue = event.lane { return "DMA transfers" }
            return event.lane.label
        }

        /// What the wait before it is spent on.
        public var waitActivity: String {
            if event.kind == "barrier" { return "barrier" }
            if case .dmaQueue = event.lane { return "DMA start-up and queueing" }
            return "other waits"
        }
    }

    /// The steps in time order.
    public var steps: [Step]

    /// Traces the path back through `events` (a trace from ``Timeline/trace(_:on:)``).
    public init(_ events: [TraceEvent]) {
        guard var index = events.indices.max(by: { events[$0].end < events[$1].end }) else {
            steps = []
            return
        }
        var reversed: [Step] = []
        while true {
            let event = events[index]
            guard let previous = event.waited.event, previous < index else {
                reversed.append(Step(event: event, wait: event.start))
                break
            }
            reversed.append(Step(event: event, wait: event.start - events[previous].end))
            index = previous
        }
        steps = reversed.reversed()
    }

    /// The path's length: the end of its last step.
    public var length: Double { steps.last?.event.end ?? 0 }

    /// Time on the path by what it is spent on, longest first; the times add up to ``length``.
    public var totals: [(activity: String, time: Double)] {
        var times: [String: Double] = [:]
        for step in steps {
            times[step.activity, default: 0] += step.event.end - step.event.start
            if step.wait > 0 { times[step.waitActivity, default: 0] += step.wait }
        }
        return times.map { ($0.key, $0.value) }.sorted {
            $0.time > $1.time || ($0.time == $1.time && $0.activity < $1.activity)
        }
    }

    /// Consecutive steps on the same lane, of the same kind, writing the same buffer, as one: the
    /// path as a person reads it.
    public var segments: [Segment] {
        var segments: [Segment] = []
        for step in steps {
            let time = step.event.end - step.event.start
            if let last = segments.last, last.lane == step.event.lane, last.kind == step.event.kind,
                last.writes == step.event.writes
            {
                segments[segments.count - 1].end = step.event.end
                segments[segments.count - 1].busy += time
                segments[segments.count - 1].wait += step.wait
                segments[segments.count - 1].count += 1
            } else {
                segments.append(
                    Segment(
                        lane: step.event.lane, kind: step.event.kind, writes: step.event.writes,
                        start: step.event.start - step.wait, end: step.event.end, busy: time, wait: step.wait, count: 1)
                )
            }
        }
        return segments
    }

    /// A run of consecutive steps on the path.
    public struct Segment: Sendable, Hashable {
        /// Their lane.
        public var lane: TraceEvent.Lane
        /// Their kind (``TraceEvent/kind``).
        public var kind: String
        /// The buffer they write.
        public var writes: String
        /// When the wait before the first began (the end of the step before it).
        public var start: Double
        /// When the last ends.
        public var end: Double
        /// ns they ran.
        public var busy: Double
        /// ns waited before them, in sum.
        public var wait: Double
        /// How many steps.
        public var count: Int
    }
}
