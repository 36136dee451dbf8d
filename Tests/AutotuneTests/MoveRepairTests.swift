import KernelSpace
import Testing

@testable import Autotune

/// A move the restrictions refuse is repaired, one parameter at a time, into a valid point that
/// keeps it.
@Suite struct MoveRepairTests {
    /// The attention block's q/k/v projection with moving weights, as the guided search tunes it
    /// at the contest shape. Stationary weights store whole column blocks (N = 640 per core) and
    /// ignore the loop order and X's buffers, so the move needs several other changes: no second
    /// move alone makes it valid.
    @Test func aWeightOperandMoveIsRepairedInSeveralSteps() throws {
        let block = AttentionBlockDecodeTemplate(epsilon: 1e-6, ropeTheta: 1e6)
        let problem = try block.parseProblem("H=2048,S=640,heads=8,kv_heads=1,d=128,lnc=2")
        let space = SearchSpace(block)
        let moving = try space.parse(
            "qkv_tile_k=128,qkv_tile_n=256,qkv_block_n=4,qkv_loop_order=kmn,qkv_x_bufs=3,qkv_w_bufs=3,"
                + "qkv_evict_engine=scalar,qkv_split=columns,qkv_w_operand=moving,rope_layout=heads,rope_bufs=3,"
                + "rope_square=scalar,rope_norm_engine=vector,rope_rope_engine=gpsimd,rope_split=none,"
                + "attention_s_tile=512,attention_bufs=8,attention_k_layout=pretransposed,"
                + "attention_scale_engine=scalar,attention_normalise=after,attention_pv_splits=1,"
                + "attention_split=none,o_tile_k=128,o_tile_n=512,o_block_k=8,o_block_n=1,o_loop_order=mnk,"
                + "o_x_bufs=2,o_w_bufs=3,o_evict_engine=scalar,o_x_layout=tensor_transpose,o_split=columns,"
                + "o_w_operand=stationary,o_k_order=tiles,o_weights=blocked,handoff=gpsimd")
        #expect(space.exclusion(moving, for: problem) == nil)
        let position = try #require(space.parameters.firstIndex { $0.name == "qkv_w_operand" })
        var point = try zip(space.parameters, moving.values).map { parameter, value in
            try #require(parameter.domain.values.firstIndex(of: value))
        }
        point[position] = try #require(space.parameters[position].domain.values.firstIndex(of: .choice("stationary")))
        let repair = MoveRepair(space: space, problem: problem)
        #expect(repair.exclusion(point) != nil)

        var checks = 0
        let repaired = try #require(repair.repaired(point, keeping: position, checks: &checks))
        #expect(repair.exclusion(repaired) == nil)
        #expect(repaired[position] == point[position])
        let changes = zip(point, repaired).filter { $0 != $1 }.count
        #expect(changes >= 3 && changes <= MoveRepair.steps, "\(changes) changes")
        #expect(checks > 0)

        var few = 0
        #expect(repair.repaired(point, keeping: position, checks: &few, limit: 10) == nil)
        #expect(few == 10)
    }
}
