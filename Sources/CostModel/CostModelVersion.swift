/// The performance model's version, recorded with every model-backend timing. Bump it whenever
/// a change to the model can change a prediction, so cached predictions are not reused.
public enum CostModelVersion {
    /// The model version, part of every cache key: bump it when the model changes a timing.
    public static let current = 6
}
