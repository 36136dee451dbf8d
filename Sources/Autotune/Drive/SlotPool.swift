import Foundation

/// Measurement slots (NeuronCores): a thread takes a free slot, measures, and gives it back. A slot
/// that fails its backend's check is retired; when none is left, waiting threads get nil.
final class SlotPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var free: [Int]
    private var live: Int

    init(slots: Int) {
        free = Array((0..<slots).reversed())
        live = slots
    }

    /// Whether every slot has been retired.
    var isEmpty: Bool {
        condition.lock()
        defer { condition.unlock() }
        return live == 0
    }

    /// Runs `body` holding a slot that `prepare` accepts, retiring the slots it refuses; nil when
    /// every slot is retired.
    func withUsableSlot<T>(prepare: (Int) -> Bool, _ body: (Int) -> T) -> T? {
        while true {
            condition.lock()
            while free.isEmpty && live > 0 { condition.wait() }
            guard live > 0, let slot = free.popLast() else {
                condition.unlock()
                return nil
            }
            condition.unlock()
            guard prepare(slot) else {
                condition.lock()
                live -= 1
                condition.broadcast()
                condition.unlock()
                continue
            }
            defer {
                condition.lock()
                free.append(slot)
                condition.signal()
                condition.unlock()
            }
            return body(slot)
        }
    }
}

/// Hands out the indices 0, 1, 2, ... to many threads, each index once.
final class IndexDispenser: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0

    /// The next index below `count`, or nil when all are taken.
    func take(below count: Int) -> Int? {
        lock.withLock {
            guard next < count else { return nil }
            defer { next += 1 }
            return next
        }
    }
}

/// Runs `body(worker)` for workers 0..<count, each on its own thread (they may block on child
/// processes for minutes), and returns when all have finished.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for worker in 0..<count {
        group.enter()
        let thread = Thread {
            body(worker)
            group.leave()
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
    group.wait()
}

/// Results written by index from many threads, each index by one thread only.
final class ResultBuffer<Element>: @unchecked Sendable {
    private let storage: UnsafeMutableBufferPointer<Element?>

    init(count: Int) {
        storage = .allocate(capacity: count)
        storage.initialize(repeating: nil)
    }

    deinit {
        storage.deinitialize()
        storage.deallocate()
    }

    subscript(index: Int) -> Element? {
        get { storage[index] }
        set { storage[index] = newValue }
    }

    var values: [Element?] { Array(storage) }
}
