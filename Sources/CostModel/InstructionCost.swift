import KernelSpace

/// Durations of compute-engine instructions, from the documented cycle rules (neuroncore.md,
/// "Instruction costs"). N is the free size: elements per partition.
enum InstructionCost {
    static func clock(_ engine: Engine, _ target: Target) -> Double {
        switch engine {
        case .tensor: target.tensorClock
        case .vector: target.vectorClock
        case .scalar: target.scalarClock
        case .gpsimd, .dma: target.gpsimdClock
        }
    }

    /// Duration in ns of a compute instruction for the given loop values.
    static func duration(
        _ instruction: Instruction, _ program: KernelProgram, _ target: Target, _ environment: [Int]
    ) -> Double {
        let buffers = program.buffers
        func isBF16SBUF(_ access: Access) -> Bool {
            let buffer = buffers[access.buffer]
            return buffer.dtype == .bf16 && buffer.memory == .sbuf
        }
        func inPSUM(_ access: Access) -> Bool { buffers[access.buffer].memory == .psum }
        let minimum = target.minimumCycles
        /// Vector/Scalar/GpSimd: at least MIN_II, plus the access start.
        func elementwise(_ cycles: Double, _ engine: Engine) -> Double {
            (max(minimum, cycles) + target.accessStartCycles) / clock(engine, target)
        }
        switch instruction {
        case .matmul(_, let stationary, let moving, _):
            let columns = Double(stationary.shape2D(environment).free)
            let free = Double(moving.shape2D(environment).free)
            let factor = buffers[stationary.buffer].dtype == .fp32 ? target.fp32MatmulFactor : 1
            return max(min(64, columns), free) * factor / target.tensorClock
        case .transpose(_, let src):
            let (partitions, free) = src.shape2D(environment)
            let factor = buffers[src.buffer].dtype == .fp32 ? target.fp32MatmulFactor : 1
            return Double(max(partitions, min(64, free))) * factor / target.tensorClock
        case .activation(_, let src, _, _):
            return elementwise(Double(src.shape2D(environment).free), .scalar)
        case .tensorTensor(let dst, let a, let b, _, let engine):
            let free = Double(dst.shape2D(environment).free)
            let allBF16 = isBF16SBUF(a) && isBF16SBUF(b) && isBF16SBUF(dst)
            var cycles = inPSUM(a) || inPSUM(b) || allBF16 ? free : 2 * free
            if engine == .vector && target.vectorPerformanceMode && allBF16 { cycles /= 2 }
            return elementwise(cycles, engine)
        case .tensorScalar(let dst, let src, _, _, let engine), .copy(let dst, let src, let engine):
            var cycles = Double(dst.shape2D(environment).free)
            if engine == .vector && target.vectorPerformanceMode && isBF16SBUF(src) && isBF16SBUF(dst) { cycles /= 4 }
            return elementwise(cycles, engine)
        case .memset(let dst, let value, let engine):
            let free = Double(dst.shape2D(environment).free)
            let halved = value == 0 && buffers[dst.buffer].dtype == .bf16
            return elementwise(halved ? free / 2 : free, engine)
        case .dma, .dmaTranspose:
            preconditionFailure("DMA durations depend on queue state; see SimulationState")
        }
    }
}
