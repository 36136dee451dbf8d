import Foundation
import KernelSpace

/// NumPy's `.npy` format (version 1.0), for the tensors nkitune hands the Neuron harness and the
/// outputs it hands back: little-endian `float32`, `float64`, `int32` or `int64`, C order.
///
/// ```swift
/// let data = NPYFile.encode(HostTensor(shape: [2, 2], data: [1, 2, 3, 4]), as: .fp32)
/// let tensor = try NPYFile.decode(data, name: "x.npy")
/// ```
public enum NPYFile {
    /// What a file that cannot be read as a tensor holds wrong.
    public struct FormatError: Error, Sendable, CustomStringConvertible {
        /// The file (or name) read.
        public var name: String
        /// What is wrong with it.
        public var problem: String
        /// One line.
        public var description: String { "\(name): not a tensor nkitune reads (\(problem))" }
    }

    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// The file's bytes: `int32` elements for an `int32` tensor, `float32` for every other dtype
    /// (a `bfloat16` value is exact in `float32`; the harness rounds it back).
    public static func encode(_ tensor: HostTensor, as dtype: DType) -> Data {
        let descr = dtype == .int32 ? "<i4" : "<f4"
        let shape =
            tensor.shape.count == 1
            ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        // Magic (6), version (2), length (2), then the header padded so the data starts on 64 bytes.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data(magic + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        data.reserveCapacity(data.count + tensor.data.count * 4)
        for value in tensor.data {
            let bits = dtype == .int32 ? UInt32(bitPattern: Int32(value)) : value.bitPattern
            data.append(contentsOf: [
                UInt8(bits & 0xff), UInt8((bits >> 8) & 0xff), UInt8((bits >> 16) & 0xff), UInt8(bits >> 24),
            ])
        }
        return data
    }

    /// Reads a tensor; `name` is what an error names.
    public static func decode(_ data: Data, name: String) throws(FormatError) -> HostTensor {
        let bytes = [UInt8](data)
        func fail(_ problem: String) -> FormatError { FormatError(name: name, problem: problem) }
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw fail("no .npy magic") }
        let major = bytes[6]
        let headerStart = major == 1 ? 10 : 12
        guard major >= 1 && major <= 3, bytes.count >= headerStart else { throw fail("version \(major)") }
        let length =
            major == 1
            ? Int(bytes[8]) | Int(bytes[9]) << 8
            : Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        guard bytes.count >= headerStart + length else { throw fail("header runs past the end") }
        let header = String(decoding: bytes[headerStart..<headerStart + length], as: UTF8.self)
        guard let descr = field("descr", in: header)?.trimmingCharacters(in: CharacterSet(charactersIn: "'\"")) else {
            throw fail("no descr")
        }
        guard field("fortran_order", in: header) == "False" else { throw fail("Fortran order") }
        guard let shapeText = field("shape", in: header) else { throw fail("no shape") }
        let dimensions = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() ")).split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        for dimension in dimensions {
            guard let value = Int(dimension), value >= 0 else { throw fail("shape \(shapeText)") }
            shape.append(value)
        }
        let width: Int
        switch descr {
        case "<f4", "<i4": width = 4
        case "<f8", "<i8": width = 8
        default: throw fail("element type \(descr); expected <f4, <f8, <i4 or <i8")
        }
        let count = shape.reduce(1, *)
        let start = headerStart + length
        guard bytes.count - start == count * width else {
            throw fail("\(bytes.count - start) data bytes for shape \(shapeText) of \(descr)")
        }
        var values = [Float](repeating: 0, count: count)
        for index in 0..<count {
            var bits: UInt64 = 0
            for byte in 0..<width { bits |= UInt64(bytes[start + index * width + byte]) << (8 * UInt64(byte)) }
            switch descr {
            case "<f4": values[index] = Float(bitPattern: UInt32(bits))
            case "<i4": values[index] = Float(Int32(bitPattern: UInt32(bits)))
            case "<f8": values[index] = Float(Double(bitPattern: bits))
            default: values[index] = Float(Int64(bitPattern: bits))
            }
        }
        return HostTensor(shape: shape, data: values)
    }

    /// Writes `tensor` to `path` (atomically).
    public static func write(_ tensor: HostTensor, as dtype: DType, to path: String) throws {
        try encode(tensor, as: dtype).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Reads the tensor at `path`.
    public static func read(_ path: String) throws -> HostTensor {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError(name: path, problem: "cannot be read")
        }
        return try decode(data, name: path)
    }

    /// The text of `key`'s value in a header such as `{'descr': '<f4', 'shape': (2, 3), }`.
    private static func field(_ key: String, in header: String) -> String? {
        guard let keyRange = header.range(of: "'\(key)':") else { return nil }
        let rest = header[keyRange.upperBound...].drop { $0 == " " }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        }
        let end = rest.firstIndex { $0 == "," || $0 == "}" } ?? rest.endIndex
        return rest[..<end].trimmingCharacters(in: .whitespaces)
    }
}
