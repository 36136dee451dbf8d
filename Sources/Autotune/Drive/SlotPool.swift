import Foundation

/// Measurement slots (NeuronCores): a thread takes a free slot, measures, and gives it back.
final class SlotPool: @unchecked Sendable {
    private let lock = NSLock()
    private let available: DispatchSemaphore
    private var free: [Int]

    init(slots: Int) {
        free = Array((0..<slots).reversed())
        available = DispatchSemaphore(value: slots)
    }

    /// Runs `body` holding one slot.
    func withSlot<T>(_ body: (Int) -> T) -> T {
        available.wait()
        lock.lock()
        let slot = free.removeLast()
        lock.unlock()
        defer {
            lock.lock()
            free.append(slot)
            lock.unlock()
            available.signal()
        }
        return body(slot)
    }
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
