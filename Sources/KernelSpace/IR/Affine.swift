/// A loop variable of a kernel program, identified by its index in the program's variable list.
public struct LoopVar: Hashable, Sendable {
    /// Index into ``KernelProgram/loopVariables``; also the slot in an evaluation environment.
    public var id: Int
    /// Name printed in emitted source.
    public var name: String

    /// Creates a value with every field given.
    public init(id: Int, name: String) {
        self.id = id
        self.name = name
    }
}

/// An integer expression `constant + sum(coefficient * variable)` over loop variables.
public struct Affine: Hashable, Sendable {
    /// One `coefficient * variable` term.
    public struct Term: Hashable, Sendable {
        /// The loop variable.
        public var variable: Int
        /// The coefficient.
        public var coefficient: Int
    }

    /// The terms, one per loop variable used.
    public var terms: [Term]
    /// The constant term.
    public var constant: Int

    /// Creates a value with every field given.
    public init(terms: [Term] = [], constant: Int = 0) {
        self.terms = terms.filter { $0.coefficient != 0 }
        self.constant = constant
    }

    /// A constant expression.
    public static func const(_ value: Int) -> Affine { Affine(constant: value) }

    /// `coefficient * variable`.
    public static func term(_ variable: LoopVar, _ coefficient: Int = 1) -> Affine {
        Affine(terms: [Term(variable: variable.id, coefficient: coefficient)])
    }

    /// Sum of two expressions.
    public static func + (lhs: Affine, rhs: Affine) -> Affine {
        var terms = lhs.terms
        for term in rhs.terms {
            if let index = terms.firstIndex(where: { $0.variable == term.variable }) {
                terms[index].coefficient += term.coefficient
            } else {
                terms.append(term)
            }
        }
        return Affine(terms: terms, constant: lhs.constant + rhs.constant)
    }

    /// Adds a constant.
    public static func + (lhs: Affine, rhs: Int) -> Affine {
        Affine(terms: lhs.terms, constant: lhs.constant + rhs)
    }

    /// The expression scaled by a constant.
    public static func * (lhs: Affine, rhs: Int) -> Affine {
        Affine(
            terms: lhs.terms.map { Term(variable: $0.variable, coefficient: $0.coefficient * rhs) },
            constant: lhs.constant * rhs)
    }

    /// Negation.
    public static prefix func - (value: Affine) -> Affine {
        Affine(
            terms: value.terms.map { Term(variable: $0.variable, coefficient: -$0.coefficient) },
            constant: -value.constant)
    }

    /// Whether the expression depends on no loop variable.
    public var isConstant: Bool { terms.isEmpty }

    /// Evaluates the expression with loop variables taking the values in `environment`.
    @inlinable
    public func evaluate(_ environment: [Int]) -> Int {
        var value = constant
        for term in terms {
            value += term.coefficient * environment[term.variable]
        }
        return value
    }
}

/// One dimension of an access: `size` elements from `start`, `stride` apart, cut short where
/// `limit` (the elements left in the problem from `start`) is smaller. A limit at or below zero
/// makes the access empty. Stride 0 repeats one element (a row broadcast over partitions).
public struct AffineRange: Hashable, Sendable {
    /// The first index.
    public var start: Affine
    /// The number of elements.
    public var size: Int
    /// An upper bound from outer loop variables, or nil.
    public var limit: Affine?
    /// The step between elements.
    public var stride: Int

    /// Creates a value with every field given.
    public init(start: Affine, size: Int, limit: Affine? = nil, stride: Int = 1) {
        self.start = start
        self.size = size
        self.limit = limit
        self.stride = stride
    }

    /// Index `at` repeated `count` times: a row broadcast to `count` partitions.
    public static func broadcast(_ at: Affine, count: Int) -> AffineRange {
        AffineRange(start: at, size: count, stride: 0)
    }

    /// The whole of a dimension of `size` elements.
    public static func full(_ size: Int) -> AffineRange { AffineRange(start: .const(0), size: size) }

    /// A single index (size 1).
    public static func index(_ at: Affine) -> AffineRange { AffineRange(start: at, size: 1) }

    /// The number of elements the range covers for the given loop values.
    @inlinable
    public func extent(_ environment: [Int]) -> Int {
        guard let limit else { return size }
        return Swift.max(0, Swift.min(size, limit.evaluate(environment)))
    }
}

/// A start offset known only at run time, read from int32 values in SBUF and applied to one
/// dimension of a DMA's HBM side (NKI's `scalar_offset` and `vector_offset`).
public struct DynamicOffset: Hashable, Sendable {
    /// The dimension the values offset.
    public var dimension: Int
    /// The SBUF buffer holding the values.
    public var buffer: Int
    /// The region of the buffer holding them: `[1, 1]` for ``OffsetKind/scalar``, `[P, 1]` for
    /// ``OffsetKind/vector(skipsOutOfRange:)``.
    public var ranges: [AffineRange]
    /// One value for the whole region, or one per row.
    public var kind: OffsetKind = .scalar
    /// For rows a DMA skips when out of range, how many the performance model times (the rows a
    /// problem's scenario expects in range); nil for all of them.
    public var expectedRows: Int? = nil

    /// The region read for the values.
    public var index: Access { Access(buffer: buffer, ranges: ranges) }
}

/// How the values of a ``DynamicOffset`` move a region.
public enum OffsetKind: Hashable, Sendable {
    /// One value (an expert index the router chose) added to the dimension's start.
    case scalar
    /// One value per row of the region (a gather or scatter of token rows): row `i` of the
    /// dimension is row `start + value[i]` of the tensor. With `skipsOutOfRange`, a row whose value
    /// falls outside the tensor is not moved (`oob_mode.skip`; plain copies only).
    case vector(skipsOutOfRange: Bool)
}

/// A rectangular region of a buffer: one range per buffer dimension, partition dimension first.
public struct Access: Hashable, Sendable {
    /// The buffer read or written.
    public var buffer: Int
    /// One range per dimension.
    public var ranges: [AffineRange]
    /// A run-time offset (DMAs under descriptor generation only).
    public var dynamic: DynamicOffset?

    /// Creates a value with every field given.
    public init(_ buffer: BufferDecl, _ ranges: [AffineRange]) {
        precondition(ranges.count == buffer.shape.count, "access rank must match buffer \(buffer.name)")
        self.buffer = buffer.id
        self.ranges = ranges
    }

    init(buffer: Int, ranges: [AffineRange]) {
        self.buffer = buffer
        self.ranges = ranges
    }

    /// The whole of `buffer`.
    public init(whole buffer: BufferDecl) {
        self.init(buffer, buffer.shape.map { AffineRange.full($0) })
    }

    /// The same region shifted along `dimension` by the value in `index` (a `[1, 1]` region).
    public func offset(_ dimension: Int, by index: Access) -> Access {
        var shifted = self
        shifted.dynamic = DynamicOffset(dimension: dimension, buffer: index.buffer, ranges: index.ranges)
        return shifted
    }

    /// The rows of the same region at run-time offsets: row `i` is row `start + index[i]` of the
    /// tensor, for `index` a `[P, 1]` int32 SBUF region with one value per row (P the region's row
    /// count). With `skippingOutOfRange`, rows whose value falls outside the tensor are not moved,
    /// and the performance model times `expectedRows` of them (all when nil).
    public func rows(at index: Access, skippingOutOfRange: Bool = false, expectedRows: Int? = nil) -> Access {
        var indexed = self
        indexed.dynamic = DynamicOffset(
            dimension: 0, buffer: index.buffer, ranges: index.ranges,
            kind: .vector(skipsOutOfRange: skippingOutOfRange),
            expectedRows: skippingOutOfRange ? expectedRows : nil)
        return indexed
    }

    /// Partitions (first dimension) and free elements (product of the rest) for given loop values.
    @inlinable
    public func shape2D(_ environment: [Int]) -> (partitions: Int, free: Int) {
        var free = 1
        for index in 1..<ranges.count { free *= ranges[index].extent(environment) }
        return (ranges[0].extent(environment), free)
    }

    /// Whether any range is cut short by a limit (so sizes depend on loop values).
    public var isClamped: Bool { ranges.contains { $0.limit != nil } }
}
