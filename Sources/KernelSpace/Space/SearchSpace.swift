/// The configurations of a template: the cross product of its parameter domains.
///
/// ```swift
/// let space = SearchSpace(LinearTemplate())
/// let first = space.configuration(at: 0)
/// ```
public struct SearchSpace: Sendable {
    /// The kernel template.
    public var template: any KernelTemplate
    /// The parameters, with the domains of this space (built-in, or narrowed by a space file).
    public var parameters: [Parameter]
    /// Restrictions a user added (a space file's `restrictions:`), on top of the template's own.
    public var restrictions: [Restriction]
    /// When set, only configurations computing bit-identical outputs to this one are in the space
    /// (those agreeing with it on the template's ``KernelTemplate/numericParameters``).
    public var exactReference: Configuration?

    /// The template's built-in space.
    public init(_ template: any KernelTemplate) {
        self.init(template, parameters: template.parameters)
    }

    /// The space with narrowed or replaced domains and extra restrictions.
    public init(_ template: any KernelTemplate, parameters: [Parameter], restrictions: [Restriction] = []) {
        self.template = template
        self.parameters = parameters
        self.restrictions = restrictions
    }

    /// Why a configuration is left out for a problem (the first user restriction that fails, else
    /// a template restriction), or nil if it is in the space. The user's own restrictions come
    /// first, so one that excludes everything is what a census names.
    public func exclusion(_ configuration: Configuration, for problem: Problem) -> String? {
        if let reason = userExclusion(configuration, for: problem) { return reason }
        if let reason = template.restriction(configuration, for: problem) { return reason }
        if let reference = exactReference, let name = numericDifference(configuration, reference) {
            return "\(name) changes numerics (reference has \(name)=\(reference[name]))"
        }
        return nil
    }

    /// The first user restriction that fails (or cannot be evaluated) for a configuration.
    private func userExclusion(_ configuration: Configuration, for problem: Problem) -> String? {
        for restriction in restrictions {
            let holds: Bool
            do {
                holds = try restriction.holds { name in
                    if let index = configuration.names.firstIndex(of: name) {
                        switch configuration.values[index] {
                        case .int(let value): return value
                        case .bool(let value): return value ? 1 : 0
                        case .choice: return nil
                        }
                    }
                    if let index = problem.names.firstIndex(of: name), case .int(let value) = problem.values[index] {
                        return value
                    }
                    return nil
                }
            } catch {
                return
                    "restriction '\(restriction.text)' cannot be evaluated: \(error.message) at column \(error.column ?? 1)"
            }
            if !holds { return "restriction '\(restriction.text)' does not hold" }
        }
        return nil
    }

    /// Number of configurations (before restrictions), saturating at `Int.max`.
    public var size: Int {
        parameters.reduce(1) { total, parameter in
            let (product, overflow) = total.multipliedReportingOverflow(by: parameter.domain.values.count)
            return overflow ? Int.max : product
        }
    }

    /// The configuration with mixed-radix index `index` (first parameter varies slowest).
    public func configuration(at index: Int) -> Configuration {
        var remainder = index
        var positions = [Int](repeating: 0, count: parameters.count)
        for position in parameters.indices.reversed() {
            let count = parameters[position].domain.values.count
            positions[position] = remainder % count
            remainder /= count
        }
        return configuration(positions: positions)
    }

    /// The configuration taking, of each parameter, the value at that position in its domain.
    public func configuration(positions: [Int]) -> Configuration {
        Configuration(
            names: parameters.map(\.name), values: zip(parameters, positions).map { $0.domain.values[$1] })
    }

    /// The template defaults, kept where a narrowed domain still holds them, else each domain's first value.
    public var defaultConfiguration: Configuration {
        let values = parameters.map { parameter in
            parameter.domain.values.contains(parameter.defaultValue)
                ? parameter.defaultValue : parameter.domain.values[0]
        }
        return Configuration(names: parameters.map(\.name), values: values)
    }

    /// Parses a canonical key. Parameters left out take their defaults; unknown names and values
    /// outside the domain are errors naming them.
    public func parse(_ key: String) throws(KernelSpaceError) -> Configuration {
        var configuration = defaultConfiguration
        for part in key.split(separator: ",") {
            let pieces = part.split(separator: "=", maxSplits: 1)
            guard pieces.count == 2 else {
                throw KernelSpaceError(.configuration, "malformed configuration entry '\(part)': expected NAME=VALUE")
            }
            let name = String(pieces[0])
            guard let position = parameters.firstIndex(where: { $0.name == name }) else {
                throw KernelSpaceError(.configuration, "unknown parameter '\(name)' for kernel \(template.id)")
            }
            guard let value = parameters[position].domain.parse(pieces[1]) else {
                let allowed = parameters[position].domain.values.map(\.description).joined(separator: ", ")
                throw KernelSpaceError(
                    .configuration,
                    "value \(name)=\(pieces[1]) is not in the space of \(template.id) (allowed: \(allowed))")
            }
            configuration.values[position] = value
        }
        return configuration
    }

    /// The part of the space bit-exact to `reference`: numerics-changing parameters pinned to its values.
    public func exact(to reference: Configuration) -> SearchSpace {
        var space = self
        space.parameters = parameters.map { parameter in
            guard template.numericParameters.contains(parameter.name) else { return parameter }
            var pinned = parameter
            pinned.domain = Self.domain(of: reference[parameter.name], like: parameter.domain)
            return pinned
        }
        space.exactReference = reference
        return space
    }

    private static func domain(of value: ParameterValue, like domain: Domain) -> Domain {
        switch value {
        case .int(let number): return .ints([number])
        case .choice(let name): return .choices([name])
        case .bool(let flag): return .choices([flag ? "true" : "false"])
        }
    }

    /// The first numerics-changing parameter on which two configurations differ, or nil when they
    /// compute bit-identical outputs.
    public func numericDifference(_ a: Configuration, _ b: Configuration) -> String? {
        parameters.map(\.name).first { template.numericParameters.contains($0) && a[$0] != b[$0] }
    }

    /// Up to `count` distinct indices drawn uniformly with a seeded generator (all of them, in
    /// order, when `count` covers the space).
    public func sampleIndices(count: Int, seed: UInt64) -> [Int] {
        let total = size
        if count >= total { return Array(0..<total) }
        var draws = IndexDraws(total: total, seed: seed)
        return (0..<count).compactMap { _ in draws.next() }
    }
}
