/// Which core last wrote each element of a program's HBM tensors, and in which phase. A core that
/// reads an element another core wrote needs a barrier on that very tensor in between:
/// `core_barrier(data, cores)` waits for the writes to `data` only, so a write to any other tensor
/// may still be in flight when the other core goes on.
struct CrossCoreWrites {
    /// The buffer each top-level barrier names, in order: barrier `p` ends phase `p`.
    let barriers: [Int]
    /// The core running now, and its phase.
    var core = 0
    var phase = 0
    /// Per HBM buffer written so far, per element: 0, or 1 + writer core + `coreLimit` * phase.
    private var writers: [Int: [Int32]] = [:]
    private static let coreLimit: Int32 = 8

    init(_ program: KernelProgram) {
        precondition(program.cores <= Int(Self.coreLimit), "\(program.name) runs on more cores than are tracked")
        barriers = program.barrierBuffers
    }

    /// Whether any core has written `buffer` so far.
    func tracks(_ buffer: Int) -> Bool { writers[buffer] != nil }

    /// Throws when the view reads an element another core wrote with no barrier on `buffer` since.
    func checkRead(_ view: View, of buffer: Int, in program: KernelProgram) throws(KernelSpaceError) {
        guard let tags = writers[buffer] else { return }
        for partition in 0..<view.partitions where view.moves(partition) {
            for element in 0..<view.free {
                let tag = tags[view.offset(partition, element)]
                guard tag != 0 else { continue }
                let (writer, written) = (Int((tag - 1) % Self.coreLimit), Int((tag - 1) / Self.coreLimit))
                guard writer != core, !barriers[written..<phase].contains(buffer) else { continue }
                let name = program.buffers[buffer].name
                let between =
                    written == phase
                    ? "with no barrier between"
                    : "and no barrier since names it (a core barrier waits only for writes to its data)"
                throw KernelSpaceError(
                    .interpreter, "\(program.name): core \(core) reads \(name), which core \(writer) writes \(between)")
            }
        }
    }

    /// Records the running core as the writer of the view's elements of `buffer` (`count` elements).
    mutating func recordWrite(_ view: View, to buffer: Int, count: Int) {
        let tag = Int32(1 + core) + Self.coreLimit * Int32(phase)
        if writers[buffer] == nil { writers[buffer] = [Int32](repeating: 0, count: count) }
        writers[buffer]!.withUnsafeMutableBufferPointer { tags in
            for partition in 0..<view.partitions where view.moves(partition) {
                for element in 0..<view.free { tags[view.offset(partition, element)] = tag }
            }
        }
    }
}
