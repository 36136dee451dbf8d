import Autotune
import Testing

@Suite struct TaskSchedulerTests {
    @Test func everyTaskWarmsUpFirst() {
        var scheduler = TaskScheduler(weights: [1, 100, 10], slice: 8, policy: .gradient)
        #expect(scheduler.order() == [0, 1, 2])
        scheduler.record(1, fastest: [50, 60], tried: 8, floor: 0, exhausted: false)
        #expect(scheduler.order().prefix(2) == [0, 2])
        #expect(scheduler.slices(1) == 1)
    }

    @Test func gradientFavoursWeightSpacingAndFewTries() {
        var scheduler = TaskScheduler(weights: [1, 10], slice: 8, policy: .gradient)
        scheduler.record(0, fastest: [100, 110, 120], tried: 8, floor: 0, exhausted: false)
        scheduler.record(1, fastest: [100, 110, 120], tried: 8, floor: 0, exhausted: false)
        #expect(scheduler.order() == [1, 0])
        // The same weight, but many more tries: each new variant is less likely to be the best.
        scheduler.record(1, fastest: [100, 110, 120], tried: 800, floor: 0, exhausted: false)
        #expect(scheduler.priority(1) == 10 * (8.0 / 808) * 10)
        #expect(scheduler.order() == [0, 1])
        // Ties (variants that differ only in what does not change the time) do not hide the gap.
        scheduler.record(1, fastest: [100, 100, 100, 110, 120], tried: 800, floor: 0, exhausted: false)
        #expect(scheduler.priority(1) == 10 * (8.0 / 808) * 10)
        // At its floor a task has nothing to gain.
        scheduler.record(0, fastest: [100, 110, 120], tried: 8, floor: 100, exhausted: false)
        #expect(scheduler.priority(0) == 0)
    }

    @Test func nothingValidYetComesFirstAndExhaustedTasksLeave() {
        var scheduler = TaskScheduler(weights: [5, 5, 5], slice: 8, policy: .gradient)
        scheduler.record(0, fastest: [10, 20], tried: 8, floor: 0, exhausted: false)
        scheduler.record(1, fastest: [], tried: 8, floor: 0, exhausted: false)
        scheduler.record(2, fastest: [10, 20], tried: 8, floor: 0, exhausted: true)
        #expect(scheduler.order() == [1, 0])
        #expect(!scheduler.isFinished)
        scheduler.record(0, fastest: [10], tried: 9, floor: 0, exhausted: true)
        scheduler.record(1, fastest: [10], tried: 9, floor: 0, exhausted: true)
        #expect(scheduler.order().isEmpty)
        #expect(scheduler.isFinished)
    }

    @Test func roundRobinTakesTurns() {
        var scheduler = TaskScheduler(weights: [1, 100], slice: 8, policy: .roundRobin)
        scheduler.record(0, fastest: [1, 2], tried: 8, floor: 0, exhausted: false)
        scheduler.record(1, fastest: [1, 2], tried: 8, floor: 0, exhausted: false)
        scheduler.record(1, fastest: [1, 2], tried: 16, floor: 0, exhausted: false)
        #expect(scheduler.order() == [0, 1])
    }
}
