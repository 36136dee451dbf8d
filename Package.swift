// swift-tools-version: 6.1
import PackageDescription

/// The interpreter and the performance model run millions of steps in tests and searches. With
/// NKITUNE_OPTIMIZED_DEBUG=1 in the environment (as `.ci/run` and the README's test command set it)
/// they are compiled with optimisation in debug builds too. SwiftPM refuses unsafe flags in a package
/// used as a versioned dependency, so they are off unless asked for
/// (`scripts/check-as-dependency.sh` checks that).
let optimized: [SwiftSetting] =
    Context.environment["NKITUNE_OPTIMIZED_DEBUG"] == "1" ? [.unsafeFlags(["-O"])] : []

let package = Package(
    name: "nkitune",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "nkitune", targets: ["nkitune"]),
        .library(name: "KernelSpace", targets: ["KernelSpace"]),
        .library(name: "CostModel", targets: ["CostModel"]),
        .library(name: "MoEModel", targets: ["MoEModel"]),
        .library(name: "Autotune", targets: ["Autotune"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .target(name: "KernelSpace", swiftSettings: optimized),
        .target(name: "CostModel", dependencies: ["KernelSpace"], swiftSettings: optimized),
        .target(name: "MoEModel", dependencies: ["KernelSpace"]),
        .target(
            name: "Autotune",
            dependencies: [
                "KernelSpace", "CostModel", "MoEModel",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Yams", package: "Yams"),
            ],
            resources: [.embedInCode("Backends/Neuron/nkitune_harness.py")]
        ),
        .executableTarget(
            name: "nkitune",
            dependencies: [
                "Autotune", "KernelSpace", "CostModel", "MoEModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "nkitune-bench",
            dependencies: ["Autotune", "KernelSpace", "CostModel", "MoEModel"]
        ),
        .testTarget(name: "KernelSpaceTests", dependencies: ["KernelSpace", "MoEModel"], exclude: ["Fixtures"]),
        .testTarget(name: "CostModelTests", dependencies: ["CostModel", "KernelSpace"]),
        .testTarget(name: "MoEModelTests", dependencies: ["MoEModel", "KernelSpace"]),
        .testTarget(
            name: "AutotuneTests",
            dependencies: [
                "Autotune", "KernelSpace", "CostModel", "MoEModel", .product(name: "GRDB", package: "GRDB.swift"),
            ],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "nkituneTests", dependencies: ["nkitune", "KernelSpace", "Autotune", "MoEModel"]),
    ],
    swiftLanguageModes: [.v6]
)
