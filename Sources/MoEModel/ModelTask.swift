import KernelSpace

/// One tuning task of a model: a distinct (template, problem) pair of either phase, weighted by
/// how often it runs in the scored generations.
public struct ModelTask: Sendable {
    /// `kernel problem`, unique within a model's tasks.
    public var name: String
    /// The template.
    public var template: any KernelTemplate
    /// The problem.
    public var problem: Problem
    /// Invocations over one generation per public prompt (prefill once per prompt, decode once per
    /// generated token after the first): the weight of the task's latency in the scored time.
    public var weight: Double
    /// The calls it serves (`decode: routed experts`).
    public var roles: [String]

    /// Creates a value with every field given.
    public init(name: String, template: any KernelTemplate, problem: Problem, weight: Double, roles: [String]) {
        self.name = name
        self.template = template
        self.problem = problem
        self.weight = weight
        self.roles = roles
    }
}

extension Deployment {
    /// The distinct (template, problem) pairs of both phases, fused blocks included (tuned beside
    /// the calls they would replace), heaviest first.
    ///
    /// ```swift
    /// let tasks = Deployment(model: .qwen3MoE30BA3B, target: "trn2").tasks()
    /// ```
    public func tasks() -> [ModelTask] {
        let runs = RunEstimate.phaseRuns(self)
        var tasks: [ModelTask] = []
        var index: [String: Int] = [:]
        for phase in Phase.allCases {
            for call in inventory(phase) + fusedBlocks(phase).map(\.call) {
                let name = "\(call.kernel) \(call.problem.key)"
                let weight = Double(call.count) * (runs[phase] ?? 0)
                let role = "\(phase.rawValue): \(call.role)"
                if let existing = index[name] {
                    tasks[existing].weight += weight
                    tasks[existing].roles.append(role)
                } else {
                    index[name] = tasks.count
                    tasks.append(
                        ModelTask(
                            name: name, template: call.template, problem: call.problem, weight: weight, roles: [role]))
                }
            }
        }
        return tasks.enumerated().sorted { ($0.element.weight, -$0.offset) > ($1.element.weight, -$1.offset) }.map(
            \.element)
    }

    /// A stable description of the deployment, naming everything that changes its tasks.
    public var key: String {
        "model=\(model.name) target=\(target) tp=\(tensorParallel) lnc=\(logicalCoreSize) batch=\(batch) "
            + "sequence=\(sequenceLength) prefill=\(promptLength) decode=\(decodePosition)"
    }
}
