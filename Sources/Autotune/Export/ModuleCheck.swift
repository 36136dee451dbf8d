/// The leaderboard's static checks of a submitted module, as far as text shows them.
public enum ModuleCheck {
    /// Largest module the leaderboard accepts (bytes).
    public static let sizeLimit = 10_000_000

    /// Calls the leaderboard rejects.
    public static let forbidden = ["os.system", "subprocess", "eval(", "exec("]

    /// What the leaderboard would reject in `text` (empty when nothing): a forbidden call, or the
    /// size. Byte-compiling is left to Python.
    public static func problems(_ text: String) -> [String] {
        var problems = forbidden.filter { text.contains($0) }.map { "contains \($0)" }
        let size = text.utf8.count
        if size >= sizeLimit { problems.append("is \(size) bytes, over the \(sizeLimit)-byte limit") }
        if !text.contains("class NeuronQwen3MoeForCausalLM") {
            problems.append("does not define NeuronQwen3MoeForCausalLM")
        }
        return problems
    }
}
