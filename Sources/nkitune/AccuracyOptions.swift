import ArgumentParser

/// How the accuracy gate runs: decoder layers chained and greedy steps compared.
struct AccuracyOptions: ParsableArguments {
    @Option(help: "Decoder layers the accuracy gate chains (1 to 8).")
    var gateLayers: Int = 2

    @Option(help: "Greedy steps the accuracy gate compares (1 to 16).")
    var gateSteps: Int = 3

    func validate() throws {
        guard (1...8).contains(gateLayers) else {
            throw ValidationError("--gate-layers \(gateLayers) must be between 1 and 8")
        }
        guard (1...16).contains(gateSteps) else {
            throw ValidationError("--gate-steps \(gateSteps) must be between 1 and 16")
        }
    }
}
