import Foundation
import KernelSpace

/// How the `neuron` backend compiles and times variants on a Trainium host.
public struct NeuronOptions: Sendable {
    /// The Neuron environment's Python interpreter (a path, or a name on `PATH`).
    public var python: String
    /// The SDK release the emitted kernels are written for.
    public var release: NKIRelease
    /// Physical NeuronCores to measure on; nil: every core `neuron-ls` reports.
    public var cores: [Int]?
    /// Logical NeuronCore size: 1, or 2 (each measure slot is two physical cores).
    public var lnc: Int
    /// Compilations at once.
    public var compileJobs: Int
    /// Untimed runs before the timed ones.
    public var warmup: Int
    /// Timed runs.
    public var iterations: Int
    /// Time limit of one compilation.
    public var compileTimeLimit: Duration
    /// Time limit of one measurement (its warm-up, timed runs and check together).
    public var measureTimeLimit: Duration
    /// Where kernels, inputs, reference outputs, NEFFs and logs go (kept between runs: a NEFF
    /// already built for the same source and toolchain is not compiled again).
    public var workDirectory: String
    /// The Neuron compiler's own cache directory (may be shared between hosts); nil: its default.
    public var compilerCache: String?
    /// The configuration (its key) whose outputs, computed by the interpreter, every variant must
    /// match bit for bit (`tune --exact`); nil: the template's reference within its tolerance.
    public var exactReference: String?
    /// Profile (engine active times, DMA bytes) every variant measured faster than all before it.
    public var profileBest: Bool
    /// Run the harness with `--dry-run`: everything but NKI, with stand-in timings. For tests.
    public var dryRun: Bool

    /// Defaults: `python3`, SDK 2.27, every core at LNC 1, CPU count minus two compile jobs,
    /// 10 warm-up and 100 timed runs, 10 minutes per compile and 5 per measurement.
    public init(
        python: String = "python3", release: NKIRelease = .default, cores: [Int]? = nil, lnc: Int = 1,
        compileJobs: Int = max(1, ProcessInfo.processInfo.activeProcessorCount - 2), warmup: Int = 10,
        iterations: Int = 100, compileTimeLimit: Duration = .seconds(600), measureTimeLimit: Duration = .seconds(300),
        workDirectory: String = "cache/neuron", compilerCache: String? = nil, exactReference: String? = nil,
        profileBest: Bool = false, dryRun: Bool = false
    ) {
        self.python = python
        self.release = release
        self.cores = cores
        self.lnc = lnc
        self.compileJobs = compileJobs
        self.warmup = warmup
        self.iterations = iterations
        self.compileTimeLimit = compileTimeLimit
        self.measureTimeLimit = measureTimeLimit
        self.workDirectory = workDirectory
        self.compilerCache = compilerCache
        self.exactReference = exactReference
        self.profileBest = profileBest
        self.dryRun = dryRun
    }
}
