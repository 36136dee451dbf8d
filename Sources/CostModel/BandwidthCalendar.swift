/// The core's DMA bandwidth over time: transfers book intervals, and a transfer ready early may
/// take a gap before transfers issued ahead of it in program order (queues are independent).
struct BandwidthCalendar {
    /// Booked intervals, sorted and disjoint.
    private var starts: [Double] = []
    private var ends: [Double] = []
    /// Older bookings are forgotten beyond this many; gaps that far back are rarely usable.
    private let memory = 512

    /// Books `duration` at the earliest time at or after `earliest` with no overlap; returns its start.
    mutating func book(earliest: Double, duration: Double) -> Double {
        // First booking that ends after `earliest` (ends are sorted because intervals are disjoint).
        var low = 0
        var high = ends.count
        while low < high {
            let middle = (low + high) / 2
            if ends[middle] <= earliest { low = middle + 1 } else { high = middle }
        }
        var time = earliest
        var index = low
        while index < starts.count && starts[index] < time + duration {
            time = max(time, ends[index])
            index += 1
        }
        if index < starts.count && index > 0 && ends[index - 1] == time {
            // Extends the previous booking.
            ends[index - 1] = time + duration
        } else if index == starts.count, let last = ends.last, last == time {
            ends[ends.count - 1] = time + duration
        } else {
            starts.insert(time, at: index)
            ends.insert(time + duration, at: index)
        }
        if starts.count > memory {
            starts.removeFirst(starts.count - memory)
            ends.removeFirst(ends.count - memory)
        }
        return time
    }
}
