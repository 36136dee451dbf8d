/// The interpreter's verdict on a variant, as stored in the cache. A variant never checked has none.
public enum CheckStatus: String, Sendable, Codable {
    /// Its outputs matched the template's reference within tolerance.
    case passed
    /// It computed a wrong answer (the stored reason says where); the variant is marked failed.
    case failed
}

/// Whether the interpreter found a variant's outputs bit-identical to its reference configuration's.
public enum ExactVerdict: String, Sendable, Codable {
    /// Run on the same inputs, every output bit matched.
    case identical
    /// Some output element differed (the stored reason names the first); the variant is marked failed.
    case different
}
