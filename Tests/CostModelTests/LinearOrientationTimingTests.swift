import CostModel
import KernelSpace
import Testing

/// Why `w_operand=stationary` exists: for one row of X, a held 128 x 128 tile of W costs TensorE
/// the 64-cycle minimum where streaming W past the row costs a cycle per column. TensorE also lays
/// out X's bf16 row (`K/128` transposes of strided pieces), so its time falls to about half, not
/// below.
@Suite struct LinearOrientationTimingTests {
    @Test(arguments: ["M=1,K=2048,N=640", "M=1,K=1024,N=1024"])
    func stationaryWeightsCutTensorETimeForOneRow(text: String) throws {
        let template = LinearTemplate()
        let space = SearchSpace(template)
        let problem = try template.parseProblem(text)
        let common =
            "tile_m=32,tile_k=128,tile_n=128,x_layout=tensor_transpose,block_k=\(text.contains("K=2048") ? 16 : 8)"
        let moving = try space.parse(common + ",w_operand=moving")
        let stationary = try space.parse(common + ",w_operand=stationary")
        #expect(template.restriction(moving, for: problem) == nil)
        #expect(template.restriction(stationary, for: problem) == nil)
        let movingTime = Timeline.simulate(template.program(for: problem, configuration: moving), on: .trn2)
        let stationaryTime = Timeline.simulate(template.program(for: problem, configuration: stationary), on: .trn2)
        let (before, after) = (movingTime.busy[.tensor] ?? 0, stationaryTime.busy[.tensor] ?? 0)
        #expect(after > 0 && after < before * 0.6, "TensorE \(before) ns -> \(after) ns")
        #expect(stationaryTime.latency < movingTime.latency, "\(movingTime.latency) -> \(stationaryTime.latency)")
    }
}
