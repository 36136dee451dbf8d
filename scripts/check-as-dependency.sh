#!/usr/bin/env bash
# Builds a scratch package that depends on nkitune by version, as another project would. SwiftPM
# refuses unsafe compiler flags in a package depended on by version, so this fails if the manifest
# turns them on without NKITUNE_OPTIMIZED_DEBUG=1. It checks the committed state (HEAD).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$root" "$work/nkitune"
git -C "$work/nkitune" tag 0.0.1
mkdir -p "$work/scratch/Sources/Scratch"
cat > "$work/scratch/Package.swift" <<MANIFEST
// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Scratch",
    dependencies: [.package(url: "file://$work/nkitune", from: "0.0.1")],
    targets: [
        .executableTarget(
            name: "Scratch",
            dependencies: [
                .product(name: "Autotune", package: "nkitune"), .product(name: "MoEModel", package: "nkitune"),
            ])
    ]
)
MANIFEST
cat > "$work/scratch/Sources/Scratch/main.swift" <<'SOURCE'
import Autotune
import MoEModel

print(ModelConfig.qwen3MoE30BA3B.kernels.count, "templates;", Strategy.allCases.map(\.rawValue).joined(separator: ", "))
SOURCE
cd "$work/scratch"
env -u NKITUNE_OPTIMIZED_DEBUG swift build -q
env -u NKITUNE_OPTIMIZED_DEBUG swift run -q Scratch
