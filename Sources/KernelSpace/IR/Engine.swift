import Foundation

/// The NeuronCore engines an instruction can run on.
public enum Engine: String, Sendable, Hashable, CaseIterable {
    case tensor
    case vector
    case scalar
    case gpsimd
    /// The DMA engines, driven from DMA queues.
    case dma
}

/// Activation functions ScalarE applies.
public enum ActivationFunction: String, Sendable, Hashable, CaseIterable {
    case copy
    case silu
    case exp
    case square

    /// Applies the function to one fp32 value.
    @inlinable
    public func apply(_ x: Float) -> Float {
        switch self {
        case .copy: return x
        case .silu: return x / (1 + Foundation.exp(-x))
        case .exp: return Foundation.exp(x)
        case .square: return x * x
        }
    }
}

/// Element-wise ALU operations of VectorE and GpSimd.
public enum ALUOp: String, Sendable, Hashable, CaseIterable {
    case add
    case subtract
    case multiply
    case divide
    case maximum
    case minimum
    case power

    /// Applies the operation to two fp32 values.
    @inlinable
    public func apply(_ a: Float, _ b: Float) -> Float {
        switch self {
        case .add: return a + b
        case .subtract: return a - b
        case .multiply: return a * b
        case .divide: return a / b
        case .maximum: return Swift.max(a, b)
        case .minimum: return Swift.min(a, b)
        case .power: return Foundation.pow(a, b)
        }
    }
}
