/// The built-in templates.
public enum KernelCatalog {
    /// Every template, in listing order.
    public static let all: [any KernelTemplate] = [
        LinearTemplate(), LinearTemplate.qkvProjection, LinearTemplate.outputProjection,
        LinearTemplate.languageModelHead, RMSNormTemplate(),
        RouterTemplate(), QKNormRopeTemplate(), AttentionDecodeTemplate(),
        AttentionPrefillTemplate(), ExpertMLPDecodeTemplate(),
        ExpertMLPPrefillTemplate(),
    ]

    /// The template with this id, or nil.
    public static func template(_ id: String) -> (any KernelTemplate)? { all.first { $0.id == id } }
}
