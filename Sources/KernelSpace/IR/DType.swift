/// Element types a kernel buffer can hold.
public enum DType: String, Sendable, Hashable, CaseIterable {
    case bf16 = "bfloat16"
    case fp32 = "float32"
    /// Integers (indices); the interpreter holds them exactly as floats below 2^24.
    case int32 = "int32"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .bf16: 2
        case .fp32, .int32: 4
        }
    }

    /// Rounds an fp32 value to what this type can hold (round to nearest even for bf16).
    @inlinable
    public func round(_ value: Float) -> Float {
        switch self {
        case .fp32: return value
        case .bf16: return DType.roundToBF16(value)
        case .int32: return value.rounded(.towardZero)
        }
    }

    /// Round-to-nearest-even conversion of an fp32 value to bf16, returned widened to fp32.
    @inlinable
    public static func roundToBF16(_ value: Float) -> Float {
        if value.isNaN { return value }
        let bits = value.bitPattern
        let lsb = (bits >> 16) & 1
        let rounded = bits &+ 0x7FFF &+ lsb
        return Float(bitPattern: rounded & 0xFFFF_0000)
    }
}
