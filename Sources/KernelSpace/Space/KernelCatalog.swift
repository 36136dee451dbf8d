/// The built-in templates, generic over the model: a model's numbers come in through
/// ``ModelNumerics``, and the model-role instances of `linear` (`qkv`, `o-proj`, `lm-head`) are
/// declared by the model (MoEModel), not here.
public enum KernelCatalog {
    /// Every generic template, with the numbers of a model's arithmetic, in listing order.
    public static func templates(_ numerics: ModelNumerics) -> [any KernelTemplate] {
        [
            LinearTemplate(), RMSNormTemplate(epsilon: numerics.rmsNormEpsilon),
            RouterTemplate(normaliseTopK: numerics.normaliseTopK),
            QKNormRopeTemplate(epsilon: numerics.rmsNormEpsilon, ropeTheta: numerics.ropeTheta),
            AttentionDecodeTemplate(), AttentionPrefillTemplate(), ExpertMLPDecodeTemplate(),
            ExpertMLPPrefillTemplate(),
            MoEBlockDecodeTemplate(epsilon: numerics.rmsNormEpsilon, normaliseTopK: numerics.normaliseTopK),
            AttentionBlockDecodeTemplate(epsilon: numerics.rmsNormEpsilon, ropeTheta: numerics.ropeTheta),
        ]
    }
}
