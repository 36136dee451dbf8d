import ArgumentParser
import Autotune
import CostModel
import Foundation
import KernelSpace

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show why a variant takes the time it does, per the performance model.",
        discussion: """
            Prints latency, the bounding engine, each engine's busy time and share, DMA bytes and \
            achieved bandwidth, MFU, the SBUF/PSUM footprint and a one-line verdict, then the critical \
            path: the chain of instructions, each waiting for the one before, that ends the kernel, \
            with its time by what it runs or waits for and its longest stretches (--path: all of \
            them). Only shortening that chain makes the kernel faster. For a kernel on two cores, \
            the timeline and path are core 0's. --svg writes a timeline with one lane per engine and \
            DMA queue.

            Example: nkitune explain linear --problem M=640,K=2048,N=768 --svg timeline.svg
            """)

    @OptionGroup var problemOptions: ProblemOptions
    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var spaceOptions: SpaceOptions

    @Option(help: "Configuration key (default: the fastest cached variant, else the template default).")
    var config: String?

    @Option(help: "Write the timeline as SVG to this file.")
    var svg: String?

    @Flag(help: "List every stretch of the critical path, not only the longest.")
    var path = false

    /// Stretches of the critical path listed without --path.
    static let longestStretches = 12

    func run() throws {
        let (template, problem, target) = try problemOptions.resolve()
        let choice = try cacheOptions.chooseVariant(
            config: config, space: try spaceOptions.space(for: template), problem: problem, target: target,
            orDefault: true)
        let (configuration, program) = (choice.configuration, choice.program)
        let (explanation, events) = Explanation.of(program, on: target)
        let report = explanation.report
        Output.line("\(template.id) \(problem.key) on \(target.name) (\(target.core))")
        Output.line("configuration  \(configuration.key)")
        Output.line(
            "latency        \(formatLatency(report.latency)) (kernel \(formatLatency(report.deviceTime)) "
                + "+ launch \(formatLatency(target.launchOverhead)))")
        Output.line("verdict        \(explanation.verdict)")
        let rows = [Engine.tensor, .vector, .scalar, .gpsimd, .dma].map { engine in
            [
                engine.rawValue, formatLatency(report.busy[engine] ?? 0),
                String(format: "%.0f%%", explanation.share(engine) * 100),
            ]
        }
        Output.line(TableRenderer.render(headers: ["engine", "busy", "share"], rows: rows, rightAligned: [1, 2]))
        Output.line(
            String(
                format: "DMA            %.2f MB moved, %.0f GB/s achieved (%.0f%% of the %.0f GB/s peak)",
                Double(report.dmaBytes) / 1e6, explanation.achievedBandwidth, explanation.bandwidthUtilisation * 100,
                target.peakDMABytesPerNs))
        Output.line(
            String(
                format: "MFU            %.1f%% (%.3f G MACs; bf16 peak %.1f TMAC/s)", explanation.mfu * 100,
                Double(report.macs) / 1e9, target.peakMACsPerNs / 1e3))
        Output.line(
            "SBUF           \(ResourceCheck.grouped(explanation.usage.sbufBytesPerPartition)) B per partition of "
                + "\(ResourceCheck.grouped(target.sbufBytesPerPartition))")
        Output.line("PSUM           \(explanation.usage.psumBanks) of \(target.psumBanks) banks")
        Output.line("instructions   \(report.instructions)")
        printCriticalPath(CriticalPath(events))
        guard let svg else { return }
        let title = "\(template.id) \(problem.key) on \(target.name): \(formatLatency(report.latency))"
        try OutputFile(path: svg, marker: "data-generator=\"nkitune\"", cachePath: cacheOptions.cache)
            .write(TimelineSVG.render(events, title: title))
        Output.error("wrote \(svg)\n")
    }

    /// The path's totals on one line, then its stretches in time order: all of them with --path,
    /// else the longest.
    func printCriticalPath(_ critical: CriticalPath) {
        let totals = critical.totals.map { "\($0.activity) \(formatLatency($0.time))" }
        Output.line("critical path  \(formatLatency(critical.length)): " + totals.joined(separator: ", "))
        var segments = critical.segments
        let all = segments.count
        if !path && all > Self.longestStretches {
            let kept = Set(
                segments.indices.sorted {
                    segments[$0].busy + segments[$0].wait > segments[$1].busy + segments[$1].wait
                }
                .prefix(Self.longestStretches))
            segments = segments.indices.filter(kept.contains).map { segments[$0] }
        }
        let rows = segments.map { segment in
            [
                String(format: "%.2f", segment.start / 1000), String(format: "%.2f", segment.end / 1000),
                segment.lane.label, segment.kind + (segment.count > 1 ? " x\(segment.count)" : ""), segment.writes,
                formatLatency(segment.wait), formatLatency(segment.busy),
            ]
        }
        Output.line(
            TableRenderer.render(
                headers: ["from us", "to us", "lane", "instructions", "writes", "waited", "ran"], rows: rows,
                rightAligned: [0, 1, 5, 6]))
        if segments.count < all {
            Output.line("(the \(segments.count) longest of \(all) stretches; --path lists all)")
        }
    }
}
