extension KernelProgram {
    /// This chained program with intermediates handed from stage to stage on chip where it can:
    /// a later stage's load of an intermediate becomes a copy on `engine` from the SBUF tile the
    /// earlier stage stored it from, and an intermediate no stage loads any more is neither stored
    /// nor declared.
    ///
    /// A store and a load move elements in order, so the load puts element `k` of the stored tile
    /// region at element `k` of its own tile region. A copy does the same when both regions cover
    /// the same partitions with the same number of elements on each, which is the condition, with:
    /// one statement writes the intermediate (a plain DMA from an SBUF tile of the same type); the
    /// load reads, on every core, into a tile of the same type, the region that DMA wrote or a box
    /// inside it when the DMA moves a tile region of the same dimensions; nothing writes or
    /// reallocates the stored tile after the store; and the store, the load and the stored tile's
    /// allocation run once, outside any loop (loops of one trip are inlined first, see
    /// ``inliningSingleTripLoops()``). The values are the same bits either way.
    ///
    /// A DMA of the intermediate into another HBM tensor (the new key into a KV cache) is forwarded
    /// the same way: it reads the stored tile instead, without the round trip through HBM, when it
    /// reads what a load could and writes as many elements along each dimension of more than one
    /// element as the tile region holds.
    ///
    /// ```swift
    /// let chained = chain.program(name: "moe_block_decode_kernel", arguments: names)
    /// let onChip = chained.handingOverOnChip(engine: .vector)
    /// ```
    public func handingOverOnChip(engine: Engine) -> KernelProgram {
        var program = inliningSingleTripLoops()
        let handoff = Handoff(program)
        var body = program.body
        for (position, statement) in body.enumerated() {
            guard case .op(.dma(let dst, let src, let queue)) = statement, let store = handoff.store(of: src.buffer),
                store.position < position
            else { continue }
            let tile: Access
            if let loaded = handoff.tile(loadedBy: dst, from: src, store: store) {
                body[position] = .op(.copy(dst: dst, src: loaded, engine: engine))
                tile = loaded
            } else if let forwarded = handoff.tile(forwardedTo: dst, from: src, store: store) {
                body[position] = .op(.dma(dst: dst, src: forwarded, queue: queue))
                tile = forwarded
            } else {
                continue
            }
            // The tile now lives into a later stage: count it for the whole kernel.
            program.buffers[tile.buffer].stage = nil
        }
        program.body = body
        return program.droppingUnreadIntermediates()
    }

    /// The same program with every loop that runs exactly once (one trip, or a limit of one that
    /// no loop variable changes) replaced by its body, its variable taken as 0 wherever it appears.
    public func inliningSingleTripLoops() -> KernelProgram {
        func inline(_ statements: [Stmt], _ removed: Set<Int>) -> [[Stmt]] {
            statements.map { statement in
                guard case .loop(var loop) = statement else { return [statement.substitutingZero(for: removed)] }
                loop.limit = loop.limit.map { $0.droppingTerms(of: removed) }
                loop.runtime = loop.runtime.map { $0.droppingTerms(of: removed) }
                // A count read on the device is unknown here, whatever the trips.
                let once =
                    loop.runtime == nil
                    && (loop.limit.map { $0.isConstant && loop.count([]) == 1 } ?? (loop.trips == 1))
                guard once else {
                    loop.body = inline(loop.body, removed).flatMap { $0 }
                    return [.loop(loop)]
                }
                return inline(loop.body, removed.union([loop.variable.id])).flatMap { $0 }
            }
        }
        let expanded = inline(body, [])
        var program = self
        program.prefetch = expanded.prefix(prefetch).map(\.count).reduce(0, +)
        program.body = expanded.flatMap { $0 }
        return program
    }

    /// The program without the intermediates no statement reads: their stores and declarations go.
    func droppingUnreadIntermediates() -> KernelProgram {
        var read: Set<Int> = []
        forEachInstruction { instruction, _ in
            for access in instruction.sources {
                read.insert(access.buffer)
                if let dynamic = access.dynamic { read.insert(dynamic.buffer) }
            }
            for access in instruction.destinations { if let dynamic = access.dynamic { read.insert(dynamic.buffer) } }
        }
        read.formUnion(barrierBuffers)
        let unread = Set(buffers.filter { $0.role == .intermediate && !read.contains($0.id) }.map(\.id))
        guard !unread.isEmpty else { return self }
        func kept(_ statements: [Stmt]) -> [Stmt] {
            statements.compactMap { statement in
                switch statement {
                case .loop(var loop):
                    loop.body = kept(loop.body)
                    return .loop(loop)
                case .op(let instruction) where instruction.destinations.contains { unread.contains($0.buffer) }:
                    return nil
                case .op, .allocate, .barrier: return statement
                }
            }
        }
        var program = self
        program.prefetch = kept(Array(body.prefix(prefetch))).count
        program.body = kept(body)
        return program.removingBuffers(unread)
    }

    /// The program without the given buffers (no statement may use them), the others renumbered.
    func removingBuffers(_ removed: Set<Int>) -> KernelProgram {
        var renumbered: [Int: Int] = [:]
        var kept: [BufferDecl] = []
        for buffer in buffers where !removed.contains(buffer.id) {
            renumbered[buffer.id] = kept.count
            var declaration = buffer
            declaration.id = kept.count
            kept.append(declaration)
        }
        func access(_ old: Access) -> Access {
            var new = old
            new.buffer = renumbered[old.buffer]!
            if let dynamic = old.dynamic { new.dynamic?.buffer = renumbered[dynamic.buffer]! }
            return new
        }
        func rewrite(_ statement: Stmt) -> Stmt {
            switch statement {
            case .loop(var loop):
                if let runtime = loop.runtime { loop.runtime?.source = access(runtime.source) }
                loop.body = loop.body.map(rewrite)
                return .loop(loop)
            case .allocate(let id): return .allocate(renumbered[id]!)
            case .barrier(let id): return .barrier(renumbered[id]!)
            case .op(let instruction): return .op(instruction.mapAccesses(access))
            }
        }
        var program = self
        program.buffers = kept
        program.body = body.map(rewrite)
        return program
    }
}

/// What ``KernelProgram/handingOverOnChip(engine:)`` needs to know of a program: each
/// intermediate's one store, and where each on-chip tile is written and allocated.
private struct Handoff {
    /// An intermediate's only write: a DMA at the top level from an SBUF tile.
    struct Store {
        let position: Int
        let tile: Access
        let region: Access
    }

    let program: KernelProgram
    /// Intermediates with exactly one writing statement, which is a handable store.
    private var stores: [Int: Store] = [:]
    /// Per buffer, the top-level positions of the statements that write or allocate it.
    private var touched: [Int: [Int]] = [:]
    /// Buffers allocated inside a loop.
    private var allocatedInLoops: Set<Int> = []

    init(_ program: KernelProgram) {
        self.program = program
        var writers: [Int: Int] = [:]
        for (position, statement) in program.body.enumerated() {
            Self.visit(statement, inLoop: false) { instruction, allocation, inLoop in
                if let allocation {
                    touched[allocation, default: []].append(position)
                    if inLoop { allocatedInLoops.insert(allocation) }
                }
                for access in instruction?.destinations ?? [] {
                    touched[access.buffer, default: []].append(position)
                    writers[access.buffer, default: 0] += 1
                }
            }
            if case .op(.dma(let dst, let src, _)) = statement, dst.dynamic == nil, src.dynamic == nil,
                program.buffers[src.buffer].memory == .sbuf, program.buffers[dst.buffer].role == .intermediate,
                program.buffers[src.buffer].dtype == program.buffers[dst.buffer].dtype
            {
                stores[dst.buffer] = Store(position: position, tile: src, region: dst)
            }
        }
        stores = stores.filter { writers[$0.key] == 1 }
    }

    private static func visit(_ statement: Stmt, inLoop: Bool, _ body: (Instruction?, Int?, Bool) -> Void) {
        switch statement {
        case .loop(let loop): for inner in loop.body { visit(inner, inLoop: true, body) }
        case .allocate(let id): body(nil, id, inLoop)
        case .op(let instruction): body(instruction, nil, inLoop)
        case .barrier: break
        }
    }

    /// The store of intermediate `buffer`, when it can be handed on chip.
    func store(of buffer: Int) -> Store? {
        guard let store = stores[buffer], !allocatedInLoops.contains(store.tile.buffer) else { return nil }
        // The stored tile keeps its values from the store on.
        let later = touched[store.tile.buffer, default: []].filter { $0 > store.position }
        return later.isEmpty ? store : nil
    }

    /// The stored tile's region a copy reads in place of the load of `region` into `destination`,
    /// when the regions agree on every core (``storedTile(read:into:store:)``) and the copy's
    /// tiles cover the same partitions with as many elements on each.
    func tile(loadedBy destination: Access, from region: Access, store: Store) -> Access? {
        guard program.buffers[destination.buffer].memory == .sbuf,
            let tile = storedTile(read: region, into: destination, store: store)
        else { return nil }
        for environment in environments {
            guard destination.shape2D(environment) == tile.shape2D(environment),
                destination.ranges[0].start.evaluate(environment) == tile.ranges[0].start.evaluate(environment)
            else { return nil }
        }
        return tile
    }

    /// The stored tile's region a DMA reads in place of its copy of `region` into the HBM tensor
    /// `destination`, when the regions agree on every core (``storedTile(read:into:store:)``) and
    /// the destination's dimensions of more than one element are the tile region's.
    func tile(forwardedTo destination: Access, from region: Access, store: Store) -> Access? {
        guard program.buffers[destination.buffer].memory == .hbm,
            let tile = storedTile(read: region, into: destination, store: store)
        else { return nil }
        let sizes = { (access: Access, environment: [Int]) in
            access.ranges.map { $0.extent(environment) }.filter { $0 != 1 }
        }
        for environment in environments where sizes(destination, environment) != sizes(tile, environment) {
            return nil
        }
        return tile
    }

    /// The part of the stored tile holding what a transfer of `region` into `destination` (of the
    /// tile's type, neither placed at run time) reads: the whole tile when it reads the stored
    /// region on every core, or a box inside it when the store moves a tile region of the same
    /// dimensions, element for element.
    private func storedTile(read region: Access, into destination: Access, store: Store) -> Access? {
        guard destination.dynamic == nil, region.dynamic == nil,
            program.buffers[destination.buffer].dtype == program.buffers[store.tile.buffer].dtype
        else { return nil }
        let environments = self.environments
        let whole = environments.allSatisfy { Self.extents(region, $0) == Self.extents(store.region, $0) }
        return whole ? store.tile : Self.box(of: region, in: store, environments)
    }

    /// The part of the stored tile that `region` (a box inside the stored region) came from, when
    /// the store moves tile and region dimension for dimension (same rank and extents, no steps).
    private static func box(of region: Access, in store: Store, _ environments: [[Int]]) -> Access? {
        let (tile, stored) = (store.tile, store.region)
        guard tile.ranges.count == stored.ranges.count, stored.ranges.count == region.ranges.count,
            (tile.ranges + stored.ranges + region.ranges).allSatisfy({ $0.stride == 1 })
        else { return nil }
        var box = tile
        for dimension in region.ranges.indices {
            let (source, written, read) = (tile.ranges[dimension], stored.ranges[dimension], region.ranges[dimension])
            let size = read.extent(environments[0])
            for environment in environments {
                let start = read.start.evaluate(environment) - written.start.evaluate(environment)
                guard source.extent(environment) == written.extent(environment), read.extent(environment) == size,
                    start >= 0, start + size <= written.extent(environment)
                else { return nil }
            }
            box.ranges[dimension] = AffineRange(start: source.start + read.start + -written.start, size: size)
        }
        return box
    }

    /// The loop values of each core's run at the top level: every variable 0 but the core index.
    private var environments: [[Int]] {
        (0..<program.cores).map { core in
            var environment = [Int](repeating: 0, count: program.loopVariables.count)
            if let variable = program.coreVariable { environment[variable] = core }
            return environment
        }
    }

    /// Each dimension's first index, element count and step for the given loop values.
    private static func extents(_ access: Access, _ environment: [Int]) -> [[Int]] {
        access.ranges.map { [$0.start.evaluate(environment), $0.extent(environment), $0.stride] }
    }
}

extension Stmt {
    /// The statement with the loop variables `variables` taken as 0 (their loops inlined).
    func substitutingZero(for variables: Set<Int>) -> Stmt {
        guard !variables.isEmpty else { return self }
        func affine(_ expression: Affine) -> Affine { expression.droppingTerms(of: variables) }
        func access(_ old: Access) -> Access { old.droppingTerms(of: variables) }
        switch self {
        case .loop(var loop):
            loop.limit = loop.limit.map(affine)
            loop.runtime = loop.runtime.map { $0.droppingTerms(of: variables) }
            loop.body = loop.body.map { $0.substitutingZero(for: variables) }
            return .loop(loop)
        case .allocate, .barrier: return self
        case .op(let instruction):
            switch instruction.mapAccesses(access) {
            case .iota(let dst, let partition, let free, let offset):
                return .op(.iota(dst: dst, partition: partition, free: free, offset: affine(offset)))
            case .matmul(let dst, let stationary, let moving, .acrossLoops(let loops)):
                let kept = loops.filter { !variables.contains($0) }
                return .op(
                    .matmul(
                        dst: dst, stationary: stationary, moving: moving,
                        accumulation: kept.isEmpty ? .overwrite : .acrossLoops(kept)))
            case let mapped: return .op(mapped)
            }
        }
    }
}

extension Affine {
    /// The expression with the given variables taken as 0.
    func droppingTerms(of variables: Set<Int>) -> Affine {
        Affine(terms: terms.filter { !variables.contains($0.variable) }, constant: constant)
    }
}

extension Access {
    /// The region with the given loop variables taken as 0, in its ranges and its run-time offset's.
    func droppingTerms(of variables: Set<Int>) -> Access {
        func range(_ range: AffineRange) -> AffineRange {
            AffineRange(
                start: range.start.droppingTerms(of: variables), size: range.size,
                limit: range.limit.map { $0.droppingTerms(of: variables) }, stride: range.stride)
        }
        var new = self
        new.ranges = ranges.map(range)
        if let dynamic { new.dynamic?.ranges = dynamic.ranges.map(range) }
        return new
    }
}

extension RuntimeCount {
    /// The count with the given loop variables taken as 0.
    func droppingTerms(of variables: Set<Int>) -> RuntimeCount {
        RuntimeCount(source: source.droppingTerms(of: variables), expected: expected.droppingTerms(of: variables))
    }
}
