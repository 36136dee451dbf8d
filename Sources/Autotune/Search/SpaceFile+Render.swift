import KernelSpace

extension SpaceFile {
    /// The text of a template's built-in space as a space file: the files shipped in `spaces/` are
    /// this text (`nkitune kernels --write-spaces DIR` writes it), so they never drift from the
    /// templates. Every value is the template's own typed value, never outside text.
    ///
    /// ```swift
    /// let text = SpaceFile.render(LinearTemplate())
    /// ```
    public static func render(_ template: any KernelTemplate) -> String {
        var lines = [
            "# Search space of the `\(template.id)` kernel: \(template.summary).",
            "# Edit a domain to narrow (or replace) it; add restrictions over parameter and problem names",
            "# (numbers, names, + - * / %, comparisons, and/or/not). Deleting this file restores the built-in space.",
            "version: 1",
            "kernel: \(template.id)",
            "parameters:",
        ]
        for parameter in template.parameters {
            lines.append("  \(parameter.name): \(domain(parameter.domain))")
        }
        lines.append("restrictions: []")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `[a, b, c]`, or `{range: [1, high], powers_of_two: true}` for five or more consecutive powers of two from 1.
    private static func domain(_ domain: Domain) -> String {
        switch domain {
        case .ints(let values):
            let powers = values.indices.map { 1 << $0 }
            if values.count >= 5 && values == powers, let high = values.last {
                return "{range: [1, \(high)], powers_of_two: true}"
            }
            return "[" + values.map(String.init).joined(separator: ", ") + "]"
        case .choices(let names):
            return "[" + names.joined(separator: ", ") + "]"
        case .bool:
            return "[false, true]"
        }
    }
}
