import Testing

@testable import CostModel

@Suite struct BandwidthCalendarTests {
    /// A transfer that does not fit the gap it is ready in streams through that gap and goes on
    /// after the booking that interrupts it, instead of waiting for a gap it fits in whole.
    @Test func aTransferFillsTheGapsItFinds() {
        var calendar = BandwidthCalendar()
        #expect(calendar.book(earliest: 0, duration: 10) == (0, 10))
        #expect(calendar.book(earliest: 15, duration: 10) == (15, 25))
        let (start, end) = calendar.book(earliest: 5, duration: 8)
        #expect(start == 10 && end == 28, "\(start) ..< \(end)")
        // Everything from 0 to 28 is booked now.
        let (next, through) = calendar.book(earliest: 0, duration: 1)
        #expect(next == 28 && through == 29, "\(next) ..< \(through)")
    }

    /// Bookings that touch merge, so the calendar stays short however many transfers stream.
    @Test func aLongStreamStaysOneBooking() {
        var calendar = BandwidthCalendar()
        var time = 0.0
        for _ in 0..<2000 { time = calendar.book(earliest: 0, duration: 1).end }
        #expect(time == 2000)
        #expect(calendar.book(earliest: 0, duration: 0.5) == (2000, 2000.5))
    }
}
