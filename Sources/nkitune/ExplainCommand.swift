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
            achieved bandwidth, MFU, the SBUF/PSUM footprint and a one-line verdict. --svg writes a \
            timeline with one lane per engine and DMA queue.

            Example: nkitune explain linear --problem M=640,K=2048,N=768 --svg timeline.svg
            """)

    @OptionGroup var problemOptions: ProblemOptions
    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var spaceOptions: SpaceOptions

    @Option(help: "Configuration key (default: the fastest cached variant, else the template default).")
    var config: String?

    @Option(help: "Write the timeline as SVG to this file.")
    var svg: String?

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
        guard let svg else { return }
        let title = "\(template.id) \(problem.key) on \(target.name): \(formatLatency(report.latency))"
        try OutputFile(path: svg, marker: "data-generator=\"nkitune\"", cachePath: cacheOptions.cache)
            .write(TimelineSVG.render(events, title: title))
        Output.error("wrote \(svg)\n")
    }
}
