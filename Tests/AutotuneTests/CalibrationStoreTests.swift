import Autotune
import CostModel
import Foundation
import GRDB
import KernelSpace
import Testing

@Suite struct CalibrationStoreTests {
    let stored = StoredCalibration(
        name: "lab", target: "trn2", values: [.dmaQueueOverlap: 1.25, .dmaQueuesPerStream: 3], source: "test",
        samples: 9, rmsBefore: 0.3, rmsAfter: 0.05, rmsHeldOut: 0.08, fittedAt: "2026-12-04T00:00:00Z")

    @Test func aStoredCalibrationComesBackAsItWasAndNamesWhatIsWrong() throws {
        let path = temporaryPath("cache.sqlite")
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let cache = try TimingCache(path: path)
        try cache.store(stored)
        #expect(try cache.calibrations() == [stored])
        #expect(try cache.calibration(named: "lab", for: "trn2") == stored)
        #expect {
            try cache.calibration(named: "lab", for: "trn3")
        } throws: { ($0 as? AutotuneError)?.message == "calibration 'lab' is for trn2, not trn3" }
        #expect {
            try cache.calibration(named: "other", for: "trn2")
        } throws: { ($0 as? AutotuneError)?.message == "no calibration 'other' in \(path) (lab)" }
        // A row another program damaged is refused with the bad value named.
        let queue = try DatabaseQueue(path: path)
        try queue.write { try $0.execute(sql: "UPDATE calibration SET constants = '{\"warp\": 2}'") }
        try queue.close()
        #expect {
            try cache.calibrations()
        } throws: { ($0 as? AutotuneError)?.message == "cache \(path): calibration lab has an unknown constant 'warp'" }
    }

    @Test func theModelBackendTimesWithTheCalibrationUnderItsOwnToolchain() throws {
        let template = LinearTemplate()
        let problem = try template.parseProblem("M=640,K=2048,N=768")
        let variant = Variant(
            template: template, problem: problem, configuration: SearchSpace(template).defaultConfiguration,
            target: .trn2)
        let documented = ModelBackend(slots: 1)
        let calibrated = ModelBackend(slots: 1, calibration: stored)
        #expect(
            calibrated.toolchain == documented.toolchain + " calibrated(dma_queue_overlap=1.25,dma_queues_per_stream=3)"
        )
        let program = try documented.compile(variant).get()
        let expected = Timeline.simulate(program.program, on: Target.trn2.applying(stored.values)).latency
        #expect(calibrated.measure(program, slot: 0).latency == expected)
        #expect(documented.measure(program, slot: 0).latency != expected)
    }
}
