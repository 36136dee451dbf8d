/// A stable identity of a kernel program, for cache keys: the same program gives the same digest in
/// every process and build, and a change to what the program does (its emitted source, its
/// buffers and their copies, its DMA queues) gives another.
extension KernelProgram {
    /// 16 hexadecimal digits of FNV-1a (64-bit) over the emitted source, the buffer declarations
    /// and the DMA queue of every instruction.
    ///
    /// ```swift
    /// let key = template.program(for: problem, configuration: configuration).digest
    /// ```
    public var digest: String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ text: String) {
            for byte in text.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01B3
            }
        }
        mix(NKIEmitter.emit(self, header: []))
        for buffer in buffers {
            mix("\n\(buffer.name) \(buffer.memory.rawValue) \(buffer.shape) \(buffer.dtype) \(buffer.copies)")
        }
        forEachInstruction { instruction, _ in
            switch instruction {
            case .dma(_, _, let queue), .dmaAdd(_, _, let queue), .dmaTranspose(_, _, let queue): mix(" q\(queue)")
            default: break
            }
        }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
