extension Target {
    /// DMA efficiency against bytes per partition, relative to the 32 KiB point; read off the DMA
    /// guide's chart [I]. Shared by every generation: no per-generation chart is published.
    static let dmaEfficiencyTable: [(bytes: Double, efficiency: Double)] = [
        (32, 0.014), (64, 0.027), (128, 0.053), (256, 0.103), (512, 0.209), (1024, 0.424), (2048, 0.816),
        (4096, 0.968), (8192, 0.983), (16384, 0.990), (32768, 1.0),
    ]

    /// Trainium1, NeuronCore-v2.
    public static let trn1 = Target(
        name: "trn1", core: "NeuronCore-v2",
        tensorClock: 2.8,  // [D] TensorE 2.8 GHz
        vectorClock: 1.12,  // [D] VectorE 1.12 GHz
        scalarClock: 1.4,  // [D] ScalarE 1.4 GHz
        gpsimdClock: 1.4,  // [D] GpSimd 1.4 GHz
        partitions: 128,  // [D]
        sbufBytesPerPartition: 196_608,  // [D] 24 MiB = 128 x 192 KiB
        psumBanks: 8,  // [D] 8 banks x 2 KiB per partition
        psumBankBytes: 2048,  // [D]
        matmulMaxMoving: 512,  // [D] moving free size <= 512 on v2/v3
        minimumCycles: 64,  // [D] MIN_II = 64
        accessStartCycles: 60,  // [D] about 60 cycles to start an SBUF/PSUM access
        dependentInstructionCycles: 100,  // [D] about +100 cycles for back-to-back dependent instructions
        selectCycles: 150,  // [D] iota, affine_select: 150 + N GpSimd cycles
        fp32MatmulFactor: 4,  // [D] fp32 matmul 4x
        loadStationarySpeedup: 4,  // [D] LoadStationary up to 4x faster than MultiplyMoving
        vectorPerformanceMode: false,  // [D] performance mode is v3+
        serialisesEngineAccess: true,  // [D] v2 serialises Vector/GpSimd SBUF and Vector/Scalar PSUM access
        tensorThrottleWindow: 0,  // [D] the throttle is documented for trn2/trn3 only
        dmaEngines: 16,  // [D] 16 DMA engines per core
        dmaBytesPerNsPerEngine: 17,  // [D] peak table: 17 B/ns per engine, 272 GB/s per core
        dmaPartitionsPerEngine: 8,  // [D] a 128-partition tile is split 8 partitions per engine
        dmaFixedLatency: 1300,  // [D] about 1,300 ns from semaphore to start
        dmaDescriptorTime: 600,  // [I] trn1 has software descriptor generation; taken as the trn2 hardware figure
        dmaQueuesPerStream: 4,  // [I] 16 queues shared by up to four streams (loads of X, W, stores)
        dmaQueueOverlap: 2,  // [I] overlap of two queues' row latency; see calibration notes
        dmaTransposeEfficiency: nil,  // [D] DMA transpose is a trn2 feature
        dmaEfficiency: dmaEfficiencyTable,
        launchOverhead: 10_000,  // [D] tiny kernels never measure under ~10-15 us
        coresPerLogicalCore: 1,  // [D] LNC 2 and core_barrier are NeuronCore-v3 on
        sharedHBMBytesPerNs: 820,  // [D] 820 GB/s per chip
        coreBarrierLatency: 2000,  // unused: no two-core kernels on trn1
        inferred: [.dmaDescriptorTime, .dmaQueuesPerStream, .dmaQueueOverlap, .dmaEfficiencyShift]
    )

    /// Trainium2, NeuronCore-v3.
    public static let trn2 = Target(
        name: "trn2", core: "NeuronCore-v3",
        tensorClock: 2.4,  // [D]
        vectorClock: 0.96,  // [D]
        scalarClock: 1.2,  // [D]
        gpsimdClock: 1.2,  // [D]
        partitions: 128,  // [D]
        sbufBytesPerPartition: 212_728,  // [D] nki-library budget: 224 KiB minus DMA scratch, reserved, identity
        psumBanks: 8,  // [D]
        psumBankBytes: 2048,  // [D]
        matmulMaxMoving: 512,  // [D]
        minimumCycles: 64,  // [D]
        accessStartCycles: 60,  // [D]
        dependentInstructionCycles: 100,  // [D]
        selectCycles: 150,  // [D]
        fp32MatmulFactor: 4,  // [D]
        loadStationarySpeedup: 4,  // [D]
        vectorPerformanceMode: true,  // [D] v3 VectorE performance mode
        serialisesEngineAccess: false,  // [D] v3 lets the engines share SBUF/PSUM in parallel
        tensorThrottleWindow: 3000,  // [D] half rate after idle, full after ~3 us
        dmaEngines: 16,  // [D]
        dmaBytesPerNsPerEngine: 23,  // [D] 32 KiB in 1,416 ns on one engine; 368 GB/s per core
        dmaPartitionsPerEngine: 8,  // [D]
        dmaFixedLatency: 1300,  // [D]
        dmaDescriptorTime: 600,  // [D] hardware descriptor generation about 600 ns per DMA
        dmaQueuesPerStream: 4,  // [I] 16 queues shared by up to four streams (loads of X, W, stores)
        dmaQueueOverlap: 2,  // [I] see trn1
        dmaTransposeEfficiency: 0.9,  // [D] up to 90% of DMA throughput HBM->SBUF
        dmaEfficiency: dmaEfficiencyTable,
        launchOverhead: 10_000,  // [D]
        coresPerLogicalCore: 2,  // [D] trn2 exposes 4 logical cores of 2 at LNC 2
        sharedHBMBytesPerNs: 725,  // [D] 2.9 TB/s over 4 HBM stacks, each shared by 2 cores
        coreBarrierLatency: 2000,  // [I] a remote semaphore write and a local wait: about one DMA start-up and a half
        inferred: [.dmaQueuesPerStream, .dmaQueueOverlap, .dmaEfficiencyShift, .coreBarrierLatency]
    )

    /// Trainium3, NeuronCore-v4.
    public static let trn3 = Target(
        name: "trn3", core: "NeuronCore-v4",
        tensorClock: 2.4,  // [D]
        vectorClock: 1.2,  // [D]
        scalarClock: 1.2,  // [D]
        gpsimdClock: 1.2,  // [D]
        partitions: 128,  // [D]
        sbufBytesPerPartition: 262_144,  // [D] 32 MiB = 128 x 256 KiB (no usable budget published)
        psumBanks: 8,  // [D]
        psumBankBytes: 2048,  // [D]
        matmulMaxMoving: 512,  // [D] 4096 only with fp32 output; the templates keep 512
        minimumCycles: 64,  // [D]
        accessStartCycles: 60,  // [D]
        dependentInstructionCycles: 100,  // [D]
        selectCycles: 150,  // [D]
        fp32MatmulFactor: 4,  // [D]
        loadStationarySpeedup: 4,  // [D]
        vectorPerformanceMode: true,  // [D]
        serialisesEngineAccess: false,  // [D]
        tensorThrottleWindow: 3000,  // [D]
        dmaEngines: 16,  // [D]
        dmaBytesPerNsPerEngine: 33,  // [D] peak table: 33 B/ns per engine, 528 GB/s per core
        dmaPartitionsPerEngine: 8,  // [D]
        dmaFixedLatency: 1300,  // [D]
        dmaDescriptorTime: 600,  // [D]
        dmaQueuesPerStream: 4,  // [I] 16 queues shared by up to four streams (loads of X, W, stores)
        dmaQueueOverlap: 2,  // [I]
        dmaTransposeEfficiency: 0.9,  // [I] taken as trn2's
        dmaEfficiency: dmaEfficiencyTable,
        launchOverhead: 10_000,  // [D]
        coresPerLogicalCore: 2,  // [D] LNC 2 as on trn2
        sharedHBMBytesPerNs: 1224,  // [I] 612 GB/s HBM share per physical core (4.9 TB/s over 8 cores), two cores
        coreBarrierLatency: 2000,  // [I] taken as trn2's
        inferred: [
            .dmaQueuesPerStream, .dmaQueueOverlap, .dmaEfficiencyShift, .dmaTransposeEfficiency, .coreBarrierLatency,
        ]
    )
}
