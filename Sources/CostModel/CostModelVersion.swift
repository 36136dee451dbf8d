/// The performance model's version, recorded with every model-backend timing. Bump it whenever
/// a change to the model can change a prediction, so cached predictions are not reused.
public enum CostModelVersion {
    public static let current = 3
}
