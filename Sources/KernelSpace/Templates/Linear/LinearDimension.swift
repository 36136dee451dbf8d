/// A dimension of the matrix product `Y[M, N] = X[M, K] W[K, N]`.
enum LinearDimension: String, CaseIterable {
    case m
    case k
    case n
}

/// One value per dimension of the matrix product.
struct PerDimension<Value> {
    var m: Value
    var k: Value
    var n: Value

    subscript(_ dimension: LinearDimension) -> Value {
        switch dimension {
        case .m: m
        case .k: k
        case .n: n
        }
    }

    /// The values transformed, dimension by dimension.
    func map<Other>(_ transform: (Value) -> Other) -> PerDimension<Other> {
        PerDimension<Other>(m: transform(m), k: transform(k), n: transform(n))
    }
}

/// The order of the three block loops of `linear`, outermost first.
public enum LoopOrder: String, ParameterChoice {
    /// M, then N, then K.
    case mnk
    /// M, then K, then N.
    case mkn
    /// N, then M, then K.
    case nmk
    /// N, then K, then M.
    case nkm
    /// K, then M, then N.
    case kmn
    /// K, then N, then M.
    case knm

    /// The dimensions, outermost first.
    var dimensions: [LinearDimension] {
        switch self {
        case .mnk: [.m, .n, .k]
        case .mkn: [.m, .k, .n]
        case .nmk: [.n, .m, .k]
        case .nkm: [.n, .k, .m]
        case .kmn: [.k, .m, .n]
        case .knm: [.k, .n, .m]
        }
    }

    /// How deep a dimension's block loop sits (0 is outermost).
    func depth(of dimension: LinearDimension) -> Int {
        switch (dimensions[0] == dimension, dimensions[1] == dimension) {
        case (true, _): 0
        case (false, true): 1
        case (false, false): 2
        }
    }
}

extension PerDimension: Sendable where Value: Sendable {}
