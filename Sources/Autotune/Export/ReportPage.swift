import CostModel
import Foundation
import KernelSpace
import MoEModel

/// `report.html`: one self-contained page (inline CSS and SVG, no scripts) a person reads in a
/// minute: the estimate before and after tuning, latency by kernel, the figures per prompt,
/// convergence per task over the run, and the engine breakdown of the heaviest kernels.
public enum ReportPage {
    /// The page's text.
    public static func render(_ export: ModelExport, accuracy: String? = nil) -> String {
        let run = export.estimate.run
        let before = export.untunedEstimate.run
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>nkitune report: \(escape(export.deployment.model.name))</title>
            <style>
            body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1040px;color:#1d2433}
            h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:26px 0 8px;border-bottom:1px solid #dde}
            .sub{color:#5a6275}.cards{display:flex;gap:12px;margin:14px 0}
            .card{flex:1;border:1px solid #dde;border-radius:6px;padding:10px 12px}
            .card b{display:block;font-size:20px}.card span{color:#5a6275;font-size:12px}
            table{border-collapse:collapse;width:100%}td,th{padding:3px 8px;border-bottom:1px solid #eef;text-align:right}
            td:first-child,th:first-child{text-align:left}svg text{font:11px system-ui,sans-serif;fill:#1d2433}
            .grid{display:grid;grid-template-columns:repeat(3,1fr);gap:10px;font-size:12px}.grid b{overflow-wrap:anywhere}
            </style></head><body>
            <h1>\(escape(export.deployment.model.name)) on \(escape(export.target.name)): tuned kernels</h1>
            <div class="sub">\(escape(export.deployment.key)); timed on the \(escape(export.backend)) backend \
            (\(escape(export.toolchain))); exported \(escape(export.date))</div>
            <div class="cards">
            \(card("estimated contest score", String(format: "%.2f", run.totalScore), String(format: "untuned %.2f, over %d public prompts", before.totalScore, run.prompts.count)))
            \(card("decode per token", ms(run.decode.total), "untuned " + ms(before.decode.total)))
            \(card("prefill (time to first token)", ms(run.prefill.total), "untuned " + ms(before.prefill.total)))
            \(card("NKI share of MACs", String(format: "%.1f%%", run.nkiRatio * 100), "as the harness counts them"))
            </div>

            """
        if let accuracy { html += "<p><b>Accuracy gate:</b> \(escape(accuracy))</p>\n" }
        html += "<h2>Scored time by kernel, before and after tuning</h2>\n"
        html += "<p class=\"sub\">Each task's in-graph time summed over one generation per public prompt.</p>\n"
        html += kernelBars(export) + "\n"
        html += "<h2>Per public prompt</h2>\n" + promptTable(run, before: before) + "\n"
        html += "<h2>Convergence per task over the run</h2>\n" + convergence(export) + "\n"
        html += "<h2>Engine busy time of the heaviest kernels</h2>\n" + engines(export) + "\n"
        html += "</body></html>\n"
        return html
    }

    private static func card(_ title: String, _ value: String, _ note: String) -> String {
        "<div class=\"card\"><span>\(escape(title))</span><b>\(escape(value))</b><span>\(escape(note))</span></div>"
    }

    private static func ms(_ nanoseconds: Double) -> String { String(format: "%.3f ms", nanoseconds / 1e6) }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// Weighted in-graph time (ns) of a kernel at `latency`.
    private static func weighted(_ kernel: ExportedKernel, _ latency: Double?, _ target: Target) -> Double {
        kernel.task.weight * max(0, (latency ?? 0) - target.launchOverhead)
    }

    private static func kernelBars(_ export: ModelExport) -> String {
        let rows = export.kernels.map {
            (
                name: $0.task.name, before: weighted($0, $0.untunedLatency, export.target),
                after: weighted($0, $0.latency, export.target)
            )
        }.sorted { $0.before > $1.before }
        let largest = max(1, rows.map { max($0.before, $0.after) }.max() ?? 1)
        let (labelWidth, barWidth, rowHeight) = (440.0, 450.0, 26.0)
        var svg =
            "<svg width=\"\(Int(labelWidth + barWidth + 120))\" height=\(quote(Int(Double(rows.count) * rowHeight + 24))) "
            + "role=\"img\" aria-label=\"scored time by kernel\">"
        svg += "<rect x=\"\(Int(labelWidth))\" y=\"2\" width=\"10\" height=\"8\" fill=\"#c5cbd8\"/>"
        svg += "<text x=\"\(Int(labelWidth) + 14)\" y=\"10\">untuned</text>"
        svg += "<rect x=\"\(Int(labelWidth) + 80)\" y=\"2\" width=\"10\" height=\"8\" fill=\"#2f6fdb\"/>"
        svg += "<text x=\"\(Int(labelWidth) + 94)\" y=\"10\">tuned</text>"
        for (index, row) in rows.enumerated() {
            let y = 18 + Double(index) * rowHeight
            svg += "<text x=\"0\" y=\"\(Int(y + 14))\">\(escape(row.name))</text>"
            svg += bar(x: labelWidth, y: y + 2, width: row.before / largest * barWidth, height: 9, color: "#c5cbd8")
            svg += bar(x: labelWidth, y: y + 12, width: row.after / largest * barWidth, height: 9, color: "#2f6fdb")
            svg +=
                "<text x=\"\(Int(labelWidth + max(row.before, row.after) / largest * barWidth + 6))\" y=\"\(Int(y + 16))\">"
                + String(format: "%.2f s → %.2f s", row.before / 1e9, row.after / 1e9) + "</text>"
        }
        return svg + "</svg>"
    }

    private static func quote(_ value: Int) -> String { "\"\(value)\"" }

    private static func bar(x: Double, y: Double, width: Double, height: Double, color: String) -> String {
        String(
            format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\"/>", x, y, max(0.5, width),
            height, color)
    }

    private static func promptTable(_ run: RunEstimate, before: RunEstimate) -> String {
        guard !run.prompts.isEmpty else { return "<p>No published baselines for this target.</p>" }
        var rows = [
            "<table><tr><th>prompt</th><th>tokens</th><th>TTFT</th><th>decode/token</th><th>latency</th>"
                + "<th>baseline latency</th><th>tokens/s</th><th>baseline tokens/s</th><th>score untuned</th>"
                + "<th>score</th></tr>"
        ]
        for (prompt, untuned) in zip(run.prompts, before.prompts) {
            rows.append(
                "<tr><td>\(prompt.prompt.index)</td><td>\(prompt.prompt.promptTokens)</td>"
                    + "<td>\(ms(prompt.timeToFirstToken))</td><td>\(ms(prompt.decodePerToken))</td>"
                    + String(
                        format: "<td>%.0f ms</td><td>%.0f ms</td>", prompt.latency / 1e6,
                        prompt.prompt.baselineLatencyMilliseconds)
                    + String(format: "<td>%.1f</td><td>%.1f</td>", prompt.throughput, prompt.prompt.baselineThroughput)
                    + String(format: "<td>%.2f</td><td>%.2f</td></tr>", untuned.score, prompt.score))
        }
        rows.append(
            String(
                format: "<tr><th>total</th><td></td><td></td><td></td><td></td><td></td><td></td><td></td>"
                    + "<th>%.2f</th><th>%.2f</th></tr></table>", before.totalScore, run.totalScore))
        return rows.joined(separator: "\n")
    }

    private static func convergence(_ export: ModelExport) -> String {
        guard !export.slices.isEmpty else {
            return "<p>No <code>tune-model</code> run is recorded for this deployment in the cache.</p>"
        }
        var html = ""
        if export.history.count > 1 {
            let points = export.history.map { (x: Double($0.measurements), y: $0.decode / 1e6) }
            html += "<p>Estimated decode per token against measurements spent:</p>" + line(points, unit: "ms") + "\n"
        }
        html += "<div class=\"grid\">"
        let order = export.kernels.map(\.task.name)
        let byTask = Dictionary(grouping: export.slices, by: \.task)
        for task in order {
            guard let slices = byTask[task] else { continue }
            let points = slices.compactMap { slice in slice.best.map { (x: Double(slice.measurements), y: $0 / 1e3) } }
            guard !points.isEmpty else { continue }
            html += "<div><b>\(escape(task))</b><br>" + line(points, unit: "us", width: 300, height: 90) + "</div>"
        }
        return html + "</div>"
    }

    private static func line(
        _ points: [(x: Double, y: Double)], unit: String, width: Double = 900, height: Double = 140
    ) -> String {
        let (minX, maxX) = (points.map(\.x).min() ?? 0, points.map(\.x).max() ?? 1)
        let (minY, maxY) = (points.map(\.y).min() ?? 0, points.map(\.y).max() ?? 1)
        let spanX = max(maxX - minX, 1)
        let spanY = max(maxY - minY, maxY * 0.01, 1e-9)
        let (left, bottom) = (60.0, 18.0)
        let path = points.map { point in
            String(
                format: "%.1f,%.1f", left + (point.x - minX) / spanX * (width - left - 10),
                6 + (maxY - point.y) / spanY * (height - bottom - 12))
        }.joined(separator: " ")
        return "<svg width=\"\(Int(width))\" height=\"\(Int(height))\">"
            + "<polyline fill=\"none\" stroke=\"#2f6fdb\" stroke-width=\"2\" points=\"\(path)\"/>"
            + String(format: "<text x=\"0\" y=\"14\">%.2f %@</text>", maxY, unit)
            + String(format: "<text x=\"0\" y=\"%d\">%.2f %@</text>", Int(height - bottom), minY, unit)
            + String(format: "<text x=\"%d\" y=\"%d\">%.0f measurements</text>", Int(left), Int(height - 2), minX)
            + String(
                format: "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.0f</text>", Int(width - 10), Int(height - 2),
                maxX)
            + "</svg>"
    }

    private static func engines(_ export: ModelExport) -> String {
        let top = export.kernels.sorted {
            weighted($0, $0.latency, export.target) > weighted($1, $1.latency, export.target)
        }.prefix(5)
        let colors: [Engine: String] = [
            .tensor: "#2f6fdb", .vector: "#2bb673", .scalar: "#f5a623", .gpsimd: "#9b59b6", .dma: "#e74c3c",
        ]
        var html = "<table><tr><th>kernel</th><th>latency</th><th>busy per engine (share of its latency)</th></tr>"
        for kernel in top {
            let latency = max(kernel.latency ?? 1, 1)
            var svg = "<svg width=\"520\" height=\"16\">"
            var x = 0.0
            for engine in Engine.allCases {
                guard let busy = kernel.busy[engine], busy > 0 else { continue }
                let width = min(busy / latency, 1) * 100
                svg += bar(x: x * 5, y: 2, width: width * 5 * 0.95, height: 12, color: colors[engine] ?? "#999")
                svg += String(format: "<title>%@ %.0f%%</title>", engine.rawValue, width)
                x += width
            }
            svg += "</svg>"
            let shares = Engine.allCases.compactMap { engine in
                kernel.busy[engine].map { String(format: "%@ %.0f%%", engine.rawValue, $0 / latency * 100) }
            }.joined(separator: ", ")
            html +=
                "<tr><td>\(escape(kernel.task.name))</td><td>\(String(format: "%.2f us", latency / 1e3))</td>"
                + "<td style=\"text-align:left\">\(svg)<br><span class=\"sub\">\(escape(shares))</span></td></tr>"
        }
        return html + "</table>"
    }
}
