import KernelSpace

extension ModelConfig {
    /// The numbers this model fixes for its kernels' arithmetic, from its config.
    public var numerics: ModelNumerics {
        ModelNumerics(
            rmsNormEpsilon: Float(rmsNormEpsilon), ropeTheta: ropeTheta, normaliseTopK: normaliseTopKProbabilities)
    }

    /// The q/k/v projection: hidden -> (q heads + 2 KV heads) x head_dim, optionally normalising its
    /// input rows first (`norm=1`, a fused input RMSNorm with this model's epsilon).
    public var qkvProjection: LinearTemplate {
        LinearTemplate(
            id: "qkv", summary: "q/k/v projection with an optional fused input RMSNorm (norm=1)",
            normEpsilon: numerics.rmsNormEpsilon,
            checkProblems: [
                "M=40,K=200,N=160,norm=1", "M=5,K=300,N=256,norm=0,dtype=fp32", "M=40,K=200,N=160,norm=1,lnc=2",
            ],
            demoProblem: "M=64,K=256,N=384")
    }

    /// The attention output projection: heads x head_dim -> hidden size.
    public var outputProjection: LinearTemplate {
        LinearTemplate(
            id: "o-proj", summary: "attention output projection (q heads x head_dim -> hidden), a linear product",
            checkProblems: ["M=3,K=100,N=300", "M=3,K=100,N=300,lnc=2"], demoProblem: "M=8,K=256,N=512")
    }

    /// The language-model head: hidden size -> a rank's slice of the vocabulary.
    public var languageModelHead: LinearTemplate {
        LinearTemplate(
            id: "lm-head", summary: "hidden -> vocabulary slice logits, the model's largest product",
            checkProblems: ["M=1,K=160,N=700", "M=1,K=160,N=700,lnc=2"], demoProblem: "M=1,K=256,N=1000")
    }

    /// Every template of the model, built with its numbers, in listing order: the generic
    /// templates with `linear`'s model-role instances after it.
    ///
    /// ```swift
    /// let rmsnorm = ModelConfig.qwen3MoE30BA3B.kernel("rmsnorm")
    /// ```
    public var kernels: [any KernelTemplate] {
        var templates = KernelCatalog.templates(numerics)
        templates.insert(
            contentsOf: [qkvProjection, outputProjection, languageModelHead] as [any KernelTemplate], at: 1)
        return templates
    }

    /// The template with this id, or nil.
    public func kernel(_ id: String) -> (any KernelTemplate)? { kernels.first { $0.id == id } }
}
