import CostModel
import KernelSpace
import Testing

@Suite struct CalibrationFitTests {
    /// Eight `linear` variants of one contest problem, chosen to differ in DMA row sizes and queue use.
    static func programs() throws -> [(String, KernelProgram)] {
        let template = LinearTemplate()
        let problem = try template.parseProblem("M=640,K=2048,N=768")
        // W streamed block by block as the moving operand, as when these variants were chosen.
        var space = SearchSpace(template)
        space.parameters = space.parameters.map { parameter in
            var copy = parameter
            if parameter.name == "w_resident" { copy.domain = .choices(["0"]) }
            if parameter.name == "w_operand" { copy.domain = .choices(["moving"]) }
            if parameter.name == "k_order" { copy.domain = .choices(["interleaved"]) }
            return copy
        }
        var chosen: [(String, KernelProgram)] = []
        var index = 0
        while chosen.count < 8 && index < space.size {
            let configuration = space.configuration(at: index)
            index += 7919 % max(1, space.size / 40) + 1
            guard template.restriction(configuration, for: problem) == nil else { continue }
            let program = template.program(for: problem, configuration: configuration)
            guard ResourceCheck.violation(of: program, limits: Target.trn2.limits) == nil else { continue }
            chosen.append((configuration.key, program))
        }
        return chosen
    }

    @Test func recoversTheTimingsOfAPerturbedTarget() throws {
        let hidden: [TargetConstant: Double] = [.dmaQueueOverlap: 1.4, .dmaEfficiencyShift: 0.7]
        let hardware = Target.trn2.applying(hidden)
        let samples = try Self.programs().map { label, program in
            CalibrationSample(
                label: label, program: program, measured: Timeline.simulate(program, on: hardware).latency)
        }
        #expect(samples.count == 8)
        let fit = CalibrationFit.fit(samples, base: .trn2, constants: Array(Target.trn2.inferred))
        #expect(fit.before.rmsLog > 0.02, "the perturbation must be visible: \(fit.before)")
        #expect(fit.after.rmsLog < fit.before.rmsLog / 4, "\(fit.before) -> \(fit.after)")
        #expect(fit.heldOut.rmsLog < fit.before.rmsLog / 2, "\(fit.heldOut)")
        #expect(fit.heldOutMethod == "leave-one-out")
        #expect(Set(fit.values.keys) == Target.trn2.inferred)
    }

    @Test func aFitNeverLeavesThePlausibleRanges() throws {
        // Measurements 50x slower than anything the constants can explain.
        let samples = try Self.programs().prefix(3).map { label, program in
            CalibrationSample(
                label: label, program: program, measured: Timeline.simulate(program, on: .trn2).latency * 50)
        }
        let constants = TargetConstant.allCases.filter { $0.exists(on: .trn2) }
        let fit = CalibrationFit.fit(Array(samples), base: .trn2, constants: constants)
        for constant in constants {
            let value = try #require(fit.values[constant])
            #expect(constant.range(on: .trn2).contains(value), "\(constant): \(value)")
        }
        #expect(fit.after.rmsLog < fit.before.rmsLog)
    }

    @Test func constantsRoundTripClampAndRound() {
        var target = Target.trn2
        TargetConstant.dmaQueuesPerStream.set(2.6, in: &target)
        #expect(target.dmaQueuesPerStream == 3)
        TargetConstant.dmaQueueOverlap.set(99, in: &target)
        #expect(target.dmaQueueOverlap == TargetConstant.dmaQueueOverlap.range(on: .trn2).upperBound)
        #expect(!TargetConstant.dmaTransposeEfficiency.exists(on: .trn1))
        #expect(Target.trn1.applying([.dmaTransposeEfficiency: 0.5]).dmaTransposeEfficiency == nil)
        for target in Target.all {
            for constant in TargetConstant.allCases where constant.exists(on: target) {
                let value = constant.value(on: target)
                #expect(constant.range(on: target).contains(value), "\(target.name) \(constant) = \(value)")
            }
        }
    }
}
