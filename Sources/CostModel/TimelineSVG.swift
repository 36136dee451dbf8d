import Foundation

/// Draws a timeline as SVG: one lane per engine and DMA queue group, instructions as bars over
/// time. Each pixel column shows how busy the lane is there (as opacity), so a kernel of a million
/// instructions still draws in a few thousand rectangles.
public enum TimelineSVG {
    static let colours: [String: String] = [
        "matmul": "#2b6cb0", "transpose": "#805ad5", "elementwise": "#dd6b20", "dma": "#38a169",
        "dma_transpose": "#2c7a7b", "barrier": "#c53030",
    ]

    /// The SVG document for `events`, titled `title` (escaped).
    public static func render(_ events: [TraceEvent], title: String, width: Int = 1200) -> String {
        let lanes = Array(Set(events.map(\.lane))).sorted()
        let end = events.map(\.end).max() ?? 1
        let left = 110.0
        let plot = Double(width) - left - 20
        let laneHeight = 26.0
        let top = 46.0
        let height = Int(top + Double(lanes.count) * laneHeight + 50)
        let scale = plot / max(end, 1)
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" data-generator="nkitune" width="\(width)" height="\(height)" \
            viewBox="0 0 \(width) \(height)" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="10" y="20" font-size="14" font-weight="bold">\(escape(title))</text>

            """
        for (row, lane) in lanes.enumerated() {
            let y = top + Double(row) * laneHeight
            svg += "<text x=\"10\" y=\"\(format(y + 17))\">\(escape(lane.label))</text>\n"
            svg +=
                "<rect x=\"\(format(left))\" y=\"\(format(y + 2))\" width=\"\(format(plot))\" "
                + "height=\"\(format(laneHeight - 4))\" fill=\"#f4f4f4\"/>\n"
            for bar in bars(events.filter { $0.lane == lane }, scale: scale, columns: Int(plot.rounded(.up))) {
                svg +=
                    "<rect x=\"\(format(left + Double(bar.first)))\" y=\"\(format(y + 4))\" "
                    + "width=\"\(bar.count)\" height=\"\(format(laneHeight - 8))\" "
                    + "fill=\"\(colours[bar.kind] ?? "#718096")\" fill-opacity=\"\(format(bar.opacity))\"/>\n"
            }
        }
        let axis = top + Double(lanes.count) * laneHeight + 14
        for tick in 0...5 {
            let time = end * Double(tick) / 5
            let x = left + time * scale
            svg += "<text x=\"\(format(x))\" y=\"\(format(axis))\" text-anchor=\"middle\">\(timeLabel(time))</text>\n"
        }
        var legendX = left
        for kind in ["matmul", "transpose", "elementwise", "dma", "dma_transpose", "barrier"] {
            svg +=
                "<rect x=\"\(format(legendX))\" y=\"\(format(axis + 12))\" width=\"12\" height=\"12\" "
                + "fill=\"\(colours[kind]!)\"/><text x=\"\(format(legendX + 16))\" y=\"\(format(axis + 22))\">\(kind)</text>\n"
            legendX += 120
        }
        return svg + "</svg>\n"
    }

    /// Runs of pixel columns with the same dominant instruction kind and busy fraction (in tenths),
    /// so a lane busy a third of the time looks a third full however small its instructions are.
    static func bars(_ events: [TraceEvent], scale: Double, columns: Int) -> [(
        first: Int, count: Int, kind: String, opacity: Double
    )] {
        guard columns > 0 else { return [] }
        let kinds = Array(colours.keys).sorted()
        var busy = [[Double]](repeating: [Double](repeating: 0, count: columns), count: kinds.count)
        for event in events {
            let kind = kinds.firstIndex(of: event.kind) ?? 0
            var x = event.start * scale
            let end = min(event.end * scale, Double(columns))
            while x < end {
                let column = min(Int(x), columns - 1)
                let next = min(Double(column + 1), end)
                busy[kind][column] += next - x
                x = next
            }
        }
        var result: [(first: Int, count: Int, kind: String, opacity: Double)] = []
        for column in 0..<columns {
            let totals = kinds.indices.map { busy[$0][column] }
            let total = min(1, totals.reduce(0, +))
            guard total > 0.05 else { continue }
            let kind = kinds[totals.indices.max { totals[$0] < totals[$1] }!]
            let opacity = (total * 10).rounded(.up) / 10
            if let last = result.last, last.first + last.count == column, last.kind == kind, last.opacity == opacity {
                result[result.count - 1].count += 1
            } else {
                result.append((column, 1, kind, opacity))
            }
        }
        return result
    }

    private static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    private static func timeLabel(_ nanoseconds: Double) -> String {
        nanoseconds >= 1e6
            ? String(format: "%.2f ms", nanoseconds / 1e6) : String(format: "%.1f us", nanoseconds / 1e3)
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
