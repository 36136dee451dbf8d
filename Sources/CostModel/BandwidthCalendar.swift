/// The core's DMA bandwidth over time, booked transfer by transfer in program order. A transfer is
/// a stream of descriptors: it starts in the first free bandwidth after it is ready and fills the
/// gaps between earlier bookings until all of it is through, instead of waiting for a gap it fits
/// in whole (a transfer ready early may so take bandwidth before transfers issued ahead of it in
/// program order: queues are independent).
struct BandwidthCalendar {
    /// Booked intervals, sorted and disjoint.
    private var starts: [Double] = []
    private var ends: [Double] = []
    /// Older bookings are forgotten beyond this many; gaps that far back are rarely usable.
    private let memory = 512

    /// Books `duration` in the free time at or after `earliest`, gap by gap; returns when the first
    /// piece starts and when the last ends.
    mutating func book(earliest: Double, duration: Double) -> (start: Double, end: Double) {
        // First booking that ends after `earliest` (ends are sorted because intervals are disjoint).
        var low = 0
        var high = ends.count
        while low < high {
            let middle = (low + high) / 2
            if ends[middle] <= earliest { low = middle + 1 } else { high = middle }
        }
        // The bookings from `low` that the new pieces reach, merged with the pieces.
        var mergedStarts: [Double] = []
        var mergedEnds: [Double] = []
        func append(_ start: Double, _ end: Double) {
            if let last = mergedEnds.last, last >= start {
                mergedEnds[mergedEnds.count - 1] = max(last, end)
            } else {
                mergedStarts.append(start)
                mergedEnds.append(end)
            }
        }
        var time = earliest
        var remaining = duration
        var index = low
        var first: Double?
        repeat {
            while index < starts.count && starts[index] <= time {
                time = max(time, ends[index])
                append(starts[index], ends[index])
                index += 1
            }
            let gapEnd = index < starts.count ? starts[index] : .infinity
            let piece = min(remaining, gapEnd - time)
            if first == nil { first = time }
            append(time, time + piece)
            remaining -= piece
            time += piece
        } while remaining > 0
        // A booking the last piece runs into joins it.
        if index < starts.count && starts[index] <= time {
            append(starts[index], ends[index])
            index += 1
        }
        starts.replaceSubrange(low..<index, with: mergedStarts)
        ends.replaceSubrange(low..<index, with: mergedEnds)
        if starts.count > memory {
            starts.removeFirst(starts.count - memory)
            ends.removeFirst(ends.count - memory)
        }
        return (first ?? earliest, time)
    }
}
