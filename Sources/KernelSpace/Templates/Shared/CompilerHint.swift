/// Why a parameter the performance model times is left to the Neuron compiler on hardware.
public enum CompilerHint {
    /// Rotating copies of a buffer (multi-buffering): NKI Beta 2 (SDK 2.27 through 2.32) declares a
    /// tile with `nl.ndarray` and lets the compiler decide how many copies to rotate; its only
    /// placement control, `address=` (2.32), fixes one address per tile rather than a count of
    /// copies. The emitted source states the count in a comment; the model times it.
    public static let bufferCopies =
        "rotating copies are the compiler's choice in NKI Beta 2 (no buffer-count control through 2.32)"
}
