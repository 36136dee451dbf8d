/// Accumulates lines of source, owning indentation.
struct CodeWriter {
    private(set) var text = ""
    private var depth = 0
    let indent: String

    init(indent: String = "    ") { self.indent = indent }

    mutating func line(_ content: String = "") {
        text += content.isEmpty ? "\n" : String(repeating: indent, count: depth) + content + "\n"
    }

    mutating func block(_ header: String, _ body: (inout CodeWriter) -> Void) {
        line(header)
        depth += 1
        body(&self)
        depth -= 1
    }
}
