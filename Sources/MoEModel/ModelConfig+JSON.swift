import Foundation

/// Why a model configuration was refused; the message names the key.
public struct ModelConfigError: Error, Equatable, CustomStringConvertible {
    /// The one-line message, naming what was wrong.
    public var message: String
    /// The text shown to a person.
    public var description: String { message }

    /// Creates a value with every field given.
    public init(message: String) { self.message = message }
}

extension ModelConfig {
    /// Reads a Hugging Face `config.json` of the Qwen3-MoE family. A missing key or a value of the
    /// wrong type is named in the error.
    ///
    /// ```swift
    /// let model = try ModelConfig(json: data, name: "my-model")
    /// ```
    public init(json data: Data, name: String) throws(ModelConfigError) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw ModelConfigError(message: "\(name): not valid JSON")
        }
        guard let dictionary = object as? [String: Any] else {
            throw ModelConfigError(message: "\(name): expected a JSON object")
        }
        func integer(_ key: String) throws(ModelConfigError) -> Int {
            guard let value = dictionary[key] else {
                throw ModelConfigError(message: "\(name) is missing key '\(key)'")
            }
            guard let number = value as? NSNumber, let exact = Int(exactly: number.doubleValue), exact > 0 else {
                throw ModelConfigError(message: "\(name): key '\(key)' must be a positive integer")
            }
            return exact
        }
        func real(_ key: String) throws(ModelConfigError) -> Double {
            guard let value = dictionary[key] else {
                throw ModelConfigError(message: "\(name) is missing key '\(key)'")
            }
            guard let number = value as? NSNumber else {
                throw ModelConfigError(message: "\(name): key '\(key)' must be a number")
            }
            return number.doubleValue
        }
        let hidden = try integer("hidden_size")
        let heads = try integer("num_attention_heads")
        self.init(
            name: name, hiddenSize: hidden, layers: try integer("num_hidden_layers"), attentionHeads: heads,
            keyValueHeads: try integer("num_key_value_heads"),
            headDim: dictionary["head_dim"] == nil ? hidden / heads : try integer("head_dim"),
            experts: try integer("num_experts"), expertsPerToken: try integer("num_experts_per_tok"),
            expertIntermediateSize: try integer("moe_intermediate_size"), vocabularySize: try integer("vocab_size"),
            ropeTheta: try real("rope_theta"), rmsNormEpsilon: try real("rms_norm_eps"),
            normaliseTopKProbabilities: (dictionary["norm_topk_prob"] as? Bool) ?? true)
    }

}
