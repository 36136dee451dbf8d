import KernelSpace

extension Driver {
    /// Where a search of a fused block starts: the block with each stage at the stage's best by
    /// the performance model (the first proposal of a `guided` search of the stage alone), and,
    /// when this driver's cache holds variants of a stage's own problem, the block with those
    /// stages at their fastest instead; the block's own parameters at their defaults. None for a
    /// template that is not a block, or a strategy that does not start from them (only `guided`,
    /// and `auto`, which is `guided`, do).
    ///
    /// A random sample of a block's space (the product of its stages') rarely holds a point good
    /// in every stage; the stages tuned alone are starts the search climbs from. A climb ends
    /// where its start leads it, so both starts are climbed.
    func starts(for request: TuneRequest) throws(AutotuneError) -> [Configuration] {
        guard request.strategy == .guided || request.strategy == .auto,
            let template = request.space.template as? any StagedTemplate,
            template.blockRestriction(for: request.problem) == nil
        else { return [] }
        var predicted: [Configuration] = []
        var measured: [Configuration] = []
        for (stage, problem) in zip(template.stages, template.stageProblems(request.problem)) {
            let space = SearchSpace(stage.template)
            var search = Strategy.guided.makeSearch(
                in: space, for: problem, budget: 1, seed: request.seed,
                target: request.target.applying(backend.calibration))
            guard let best = search.propose(1).first else { return [] }
            predicted.append(best)
            let resolver = VariantResolver(
                space: space, problem: problem, target: request.target, cache: cache, backend: backend)
            let fastest = try resolver.fastest(limit: 1).first.flatMap { try? space.parse($0.configuration) }
            measured.append(fastest ?? best)
        }
        let starts = [template.configuration(stages: predicted), template.configuration(stages: measured)]
        return starts[0] == starts[1] ? [starts[0]] : starts
    }
}
