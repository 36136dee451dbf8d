import Foundation
import KernelSpace

/// Seeded random weights at one rank's decode widths, and the plain fp32 reference of the decoder
/// layer, final norm and lm_head the ``AccuracyGate`` compares the kernels with.
struct SyntheticModel: Sendable {
    /// One layer's weights, bf16 values; matrices in the kernels' `[in, out]` layout.
    struct Layer: Sendable {
        var inputNorm: HostTensor
        var qkv: HostTensor
        var qNorm: HostTensor
        var kNorm: HostTensor
        var output: HostTensor
        var postNorm: HostTensor
        var router: HostTensor
    }

    /// One layer's key/value cache, `[kv heads x positions, d]` each.
    struct Cache: Sendable {
        var keys: HostTensor
        var values: HostTensor

        mutating func store(key: [Float], value: [Float], at position: Int, headDim: Int) {
            let positions = keys.shape[0] / (key.count / headDim)
            for head in 0..<(key.count / headDim) {
                for index in 0..<headDim {
                    keys.data[(head * positions + position) * headDim + index] = key[head * headDim + index]
                    values.data[(head * positions + position) * headDim + index] = value[head * headDim + index]
                }
            }
        }
    }

    let hidden: Int
    let queryHeads: Int
    let kvHeads: Int
    let headDim: Int
    let positions: Int
    let experts: Int
    let columns: Int
    let k: Int
    let vocabulary: Int
    let epsilon: Double
    let ropeTheta: Double
    let normaliseTopK: Bool
    let layers: [Layer]
    let caches: [Cache]
    let gateUp: HostTensor
    let down: HostTensor
    let finalNorm: HostTensor
    let head: HostTensor
    private let seed: UInt64

    init(deployment: Deployment, layers count: Int, seed: UInt64) {
        let model = deployment.model
        hidden = model.hiddenSize
        queryHeads = deployment.queryHeads
        kvHeads = deployment.keyValueHeads
        headDim = model.headDim
        positions = deployment.decodePosition
        experts = model.experts
        columns = deployment.expertColumns
        k = model.expertsPerToken
        vocabulary = deployment.vocabularySlice
        epsilon = model.rmsNormEpsilon
        ropeTheta = model.ropeTheta
        normaliseTopK = model.normaliseTopKProbabilities
        self.seed = seed
        var next = seed
        func tensor(_ shape: [Int], scale: Float, offset: Float = 0) -> HostTensor {
            next &+= 0x9E37_79B9
            let random = HostTensor.random(shape, dtype: .fp32, seed: next)
            return HostTensor(shape: shape, data: random.data.map { DType.roundToBF16(offset + scale * $0) })
        }
        let (hidden, headDim, queryHeads, experts) = (
            model.hiddenSize, model.headDim, deployment.queryHeads, model.experts
        )
        let (kvHeads, positions, columns) = (
            deployment.keyValueHeads, deployment.decodePosition, deployment.expertColumns
        )
        let qkvWidth = (queryHeads + 2 * kvHeads) * headDim
        func matrix(_ rows: Int, _ columns: Int) -> HostTensor {
            tensor([rows, columns], scale: Float(Foundation.sqrt(3 / Double(rows))))
        }
        self.layers = (0..<count).map { _ in
            Layer(
                inputNorm: tensor([1, hidden], scale: 0.1, offset: 1), qkv: matrix(hidden, qkvWidth),
                qNorm: tensor([1, headDim], scale: 0.1, offset: 1), kNorm: tensor([1, headDim], scale: 0.1, offset: 1),
                output: matrix(queryHeads * headDim, hidden), postNorm: tensor([1, hidden], scale: 0.1, offset: 1),
                router: tensor([hidden, experts], scale: Float(4 * Foundation.sqrt(3 / Double(hidden)))))
        }
        caches = (0..<count).map { _ in
            Cache(
                keys: tensor([kvHeads * positions, headDim], scale: 1),
                values: tensor([kvHeads * positions, headDim], scale: 1))
        }
        gateUp = tensor([experts, hidden, 2 * columns], scale: Float(Foundation.sqrt(3 / Double(hidden))))
        down = tensor([experts, columns, hidden], scale: Float(Foundation.sqrt(3 / Double(columns))))
        finalNorm = tensor([1, hidden], scale: 0.1, offset: 1)
        head = matrix(hidden, deployment.vocabularySlice)
    }

    /// A token's embedding row.
    func embedding(_ token: Int) -> HostTensor {
        HostTensor.random([1, hidden], dtype: .bf16, seed: seed &+ 0x1000 &+ UInt64(token))
    }

    /// The RoPE tables of one position, `[1, d]` (rounded to bf16 for the kernel).
    func rope(_ position: Int, rounded: Bool) -> (cos: HostTensor, sin: HostTensor) {
        var cosines: [Float] = []
        var sines: [Float] = []
        for index in 0..<headDim {
            let frequency = Foundation.pow(ropeTheta, -Double(2 * (index % (headDim / 2))) / Double(headDim))
            let angle = Double(position) * frequency
            cosines.append(rounded ? DType.roundToBF16(Float(Foundation.cos(angle))) : Float(Foundation.cos(angle)))
            sines.append(rounded ? DType.roundToBF16(Float(Foundation.sin(angle))) : Float(Foundation.sin(angle)))
        }
        return (HostTensor(shape: [1, headDim], data: cosines), HostTensor(shape: [1, headDim], data: sines))
    }

    private func norm(_ x: [Double], _ weight: HostTensor) -> [Double] {
        let scale = 1 / Foundation.sqrt(x.map { $0 * $0 }.reduce(0, +) / Double(x.count) + epsilon)
        return x.indices.map { x[$0] * scale * Double(weight.data[$0]) }
    }

    private func product(_ x: [Double], _ matrix: HostTensor, rows: Int, columns: Int, offset: Int = 0) -> [Double] {
        var out = [Double](repeating: 0, count: columns)
        for row in 0..<rows where x[row] != 0 {
            let base = offset + row * columns
            for column in 0..<columns { out[column] += x[row] * Double(matrix.data[base + column]) }
        }
        return out
    }

    /// One decoder layer in fp32 (doubles), updating the layer's cache at `position`.
    func referenceLayer(_ input: [Float], layer: Int, position: Int, caches cache: inout Cache) -> [Float] {
        let weights = layers[layer]
        let x = input.map(Double.init)
        let (qSize, kvSize) = (queryHeads * headDim, kvHeads * headDim)
        let qkv = product(norm(x, weights.inputNorm), weights.qkv, rows: hidden, columns: qSize + 2 * kvSize)
        let (cos, sin) = rope(position, rounded: false)
        func rotate(_ values: ArraySlice<Double>, heads: Int, weight: HostTensor) -> [Double] {
            let values = Array(values)
            var out: [Double] = []
            for head in 0..<heads {
                let n = norm(Array(values[(head * headDim)..<((head + 1) * headDim)]), weight)
                let half = headDim / 2
                for index in 0..<headDim {
                    let turned = index < half ? -n[index + half] : n[index - half]
                    out.append(n[index] * Double(cos.data[index]) + turned * Double(sin.data[index]))
                }
            }
            return out
        }
        let q = rotate(qkv[0..<qSize], heads: queryHeads, weight: weights.qNorm)
        let key = rotate(qkv[qSize..<(qSize + kvSize)], heads: kvHeads, weight: weights.kNorm)
        cache.store(
            key: key.map(Float.init), value: qkv[(qSize + kvSize)...].map(Float.init), at: position, headDim: headDim)
        var attention = [Double](repeating: 0, count: qSize)
        let group = queryHeads / kvHeads
        for head in 0..<queryHeads {
            let kv = head / group
            let scores = (0..<positions).map { position in
                (0..<headDim).reduce(0.0) { total, index in
                    total + q[head * headDim + index]
                        * Double(cache.keys.data[(kv * positions + position) * headDim + index])
                } / Foundation.sqrt(Double(headDim))
            }
            let largest = scores.max() ?? 0
            let exponentials = scores.map { Foundation.exp($0 - largest) }
            let total = exponentials.reduce(0, +)
            for position in 0..<positions {
                let p = exponentials[position] / total
                for index in 0..<headDim {
                    attention[head * headDim + index] +=
                        p * Double(cache.values.data[(kv * positions + position) * headDim + index])
                }
            }
        }
        let residual = zip(product(attention, weights.output, rows: qSize, columns: hidden), x).map { $0 + $1 }
        let normed = norm(residual, weights.postNorm)
        let logits = product(normed, weights.router, rows: hidden, columns: experts)
        let largest = logits.max() ?? 0
        let exponentials = logits.map { Foundation.exp($0 - largest) }
        let total = exponentials.reduce(0, +)
        let chosen = exponentials.indices.sorted { exponentials[$0] > exponentials[$1] }.prefix(k)
        let sum = normaliseTopK ? chosen.reduce(0) { $0 + exponentials[$1] / total } : 1
        var out = residual
        for expert in chosen {
            let weight = exponentials[expert] / total / sum
            let projected = product(
                normed, gateUp, rows: hidden, columns: 2 * columns, offset: expert * hidden * 2 * columns)
            let activated = (0..<columns).map { column -> Double in
                let gate = projected[column]
                return gate / (1 + Foundation.exp(-gate)) * projected[columns + column]
            }
            let result = product(activated, down, rows: columns, columns: hidden, offset: expert * columns * hidden)
            for index in 0..<hidden { out[index] += weight * result[index] }
        }
        return out.map(Float.init)
    }

    /// Final norm and lm_head in fp32.
    func referenceLogits(_ x: [Float]) -> [Double] {
        product(norm(x.map(Double.init), finalNorm), head, rows: hidden, columns: vocabulary)
    }
}
