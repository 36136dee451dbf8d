import KernelSpace

/// A file under `kernels/`: one kernel, headed by its configuration, latency and how it was
/// measured.
public enum KernelFile {
    /// The file's text.
    public static func render(_ kernel: ExportedKernel, export: ModelExport) -> String {
        var header = [
            "nkitune kernel: \(kernel.task.template.id)", "problem: \(kernel.task.problem.key)",
            "configuration: \(kernel.configuration.key) (\(kernel.source))", "target: \(export.target.name)",
        ]
        if let latency = kernel.latency {
            header.append(
                "latency: \(String(format: "%.2f", latency / 1000)) us standalone, measured on the \(export.backend) "
                    + "backend (\(export.toolchain))" + (kernel.measuredAt.map { " at \($0)" } ?? ""))
        }
        if let check = kernel.check { header.append("numeric check on the interpreter: \(check.rawValue)") }
        header.append("serves: " + kernel.task.roles.joined(separator: "; "))
        return NKIEmitter.emit(kernel.program, header: header, release: export.release)
    }
}
