/// A Neuron SDK release whose NKI API the emitted source is written for (`--sdk`).
///
/// Each release's call signatures are public in AWS's API stubs; the tests check every call the
/// emitter prints against a table derived from them (`Tests/KernelSpaceTests/Fixtures/nki-api`).
/// What differs between the releases nkitune writes for:
/// - an accumulating copy into HBM is `dma_copy(..., dst_rmw_op=nl.add)` in 2.27 and 2.28, and
///   `dma_compute(dst, srcs=[dst, src], reduce_op=nl.add)` from 2.29, where `dst_rmw_op` is gone;
/// - a loop counted on the device (``RuntimeCount``) is `nl.dynamic_range` over a register from
///   2.29; 2.27 and 2.28 have no dynamic loop, so such a loop runs every trip there.
public enum NKIRelease: String, CaseIterable, Sendable, Codable, Comparable {
    /// SDK 2.27: NKI Beta 2 (NKI 0.1.0), the contest's first round.
    case v227 = "2.27"
    /// SDK 2.28.
    case v228 = "2.28"
    /// SDK 2.29: the contest's trn3 round.
    case v229 = "2.29"
    /// SDK 2.32: the newest public release when nkitune's tables were derived.
    case v232 = "2.32"

    /// The release the emitter writes for unless told otherwise.
    public static let `default` = NKIRelease.v227

    /// Whether an accumulating copy into HBM is `dma_compute` (2.29 and later) rather than
    /// `dma_copy(dst_rmw_op=)`.
    public var accumulatesWithDMACompute: Bool { self >= .v229 }

    /// Whether a loop can run a count read on the device (`nl.dynamic_range`, 2.29 and later).
    public var hasDynamicLoops: Bool { self >= .v229 }

    /// Orders releases by version.
    public static func < (lhs: NKIRelease, rhs: NKIRelease) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
