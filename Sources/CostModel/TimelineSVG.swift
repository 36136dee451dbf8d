import Foundation

/// Draws a timeline as SVG: one lane per engine and DMA queue, instructions as bars over time.
/// Bars closer than a pixel on one lane are merged, so a kernel of a million instructions still
/// draws in a few thousand rectangles.
public enum TimelineSVG {
    static let colours: [String: String] = [
        "matmul": "#2b6cb0", "transpose": "#805ad5", "elementwise": "#dd6b20", "dma": "#38a169",
        "dma_transpose": "#2c7a7b",
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
            <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" \
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
            var merged: [(start: Double, end: Double, kind: String)] = []
            for event in events where event.lane == lane {
                let x0 = event.start * scale
                let x1 = max(event.end * scale, x0 + 0.5)
                if let last = merged.last, last.kind == event.kind, x0 - last.end < 1 {
                    merged[merged.count - 1].end = max(last.end, x1)
                } else {
                    merged.append((x0, x1, event.kind))
                }
            }
            for bar in merged {
                svg +=
                    "<rect x=\"\(format(left + bar.start))\" y=\"\(format(y + 4))\" "
                    + "width=\"\(format(bar.end - bar.start))\" height=\"\(format(laneHeight - 8))\" "
                    + "fill=\"\(colours[bar.kind] ?? "#718096")\"/>\n"
            }
        }
        let axis = top + Double(lanes.count) * laneHeight + 14
        for tick in 0...5 {
            let time = end * Double(tick) / 5
            let x = left + time * scale
            svg += "<text x=\"\(format(x))\" y=\"\(format(axis))\" text-anchor=\"middle\">\(timeLabel(time))</text>\n"
        }
        var legendX = left
        for kind in ["matmul", "transpose", "elementwise", "dma", "dma_transpose"] {
            svg +=
                "<rect x=\"\(format(legendX))\" y=\"\(format(axis + 12))\" width=\"12\" height=\"12\" "
                + "fill=\"\(colours[kind]!)\"/><text x=\"\(format(legendX + 16))\" y=\"\(format(axis + 22))\">\(kind)</text>\n"
            legendX += 120
        }
        return svg + "</svg>\n"
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
