/// The numbers a model fixes for its kernels' arithmetic, as its `config.json` gives them
/// (`rms_norm_eps`, `rope_theta`, `norm_topk_prob`). KernelSpace holds no model's values: the model
/// (MoEModel's `ModelConfig`) hands them to the templates that need them.
public struct ModelNumerics: Hashable, Sendable {
    /// Added to the mean square before the reciprocal square root of every RMSNorm.
    public var rmsNormEpsilon: Float
    /// Base of the rotary embedding's frequencies.
    public var ropeTheta: Double
    /// Whether the router renormalises its top-k weights to sum to one.
    public var normaliseTopK: Bool

    /// Numerics with every value given.
    public init(rmsNormEpsilon: Float, ropeTheta: Double, normaliseTopK: Bool) {
        self.rmsNormEpsilon = rmsNormEpsilon
        self.ropeTheta = ropeTheta
        self.normaliseTopK = normaliseTopK
    }
}
