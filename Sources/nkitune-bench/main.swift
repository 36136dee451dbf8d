import CostModel
import KernelSpace

for row in CalibrationCase.all {
    let r = try row.predict()
    print(row.version, row.target.name, r.latency / 1e6, row.publishedMilliseconds, r.latency / 1e6 / row.publishedMilliseconds, r.busy.mapValues { $0 / 1e6 })
}
