import Foundation
import KernelSpace
import Yams

/// Search spaces a user edits: `spaces/<kernel>.yaml` narrows or replaces parameter domains and
/// adds restrictions.
///
/// ```yaml
/// version: 1
/// kernel: linear
/// parameters:
///   tile_n: [256, 512]
///   block_k: {range: [1, 16], powers_of_two: true}
/// restrictions:
///   - block_k * tile_k <= K
/// ```
public enum SpaceFile {
    /// Largest integer a parameter may take in a space file (2^24, like a problem size).
    public static let maximumValue = Problem.maximumSize
    /// Most values one parameter's domain may list or range over.
    public static let maximumDomainSize = 4096

    /// The space of `template` from `directory/<kernel>.yaml`, or the built-in space when the file
    /// does not exist.
    public static func space(for template: any KernelTemplate, in directory: String) throws(AutotuneError)
        -> SearchSpace
    {
        let path = (directory as NSString).appendingPathComponent("\(template.id).yaml")
        guard FileManager.default.fileExists(atPath: path) else { return SearchSpace(template) }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw AutotuneError(.spaceFile, "\(path): cannot read the file as UTF-8 text")
        }
        return try parse(text, file: path, template: template)
    }

    /// Parses a space file's text.
    public static func parse(_ text: String, file: String, template: any KernelTemplate) throws(AutotuneError)
        -> SearchSpace
    {
        var reader = SpaceFileReader(file: file, template: template)
        return try reader.read(text)
    }
}

/// Validates a composed YAML tree against a template.
struct SpaceFileReader {
    let file: String
    let template: any KernelTemplate

    private func fail(_ node: Node?, _ message: String) -> AutotuneError {
        let place = node?.mark.map { "\($0.line):\($0.column)" } ?? "1:1"
        return AutotuneError(.spaceFile, "\(file):\(place): \(message)")
    }

    mutating func read(_ text: String) throws(AutotuneError) -> SearchSpace {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw AutotuneError(.spaceFile, "\(file): \(Self.describe(error))")
        } catch {
            throw AutotuneError(.spaceFile, "\(file): \(error)")
        }
        guard let root, let mapping = root.mapping else {
            throw fail(root, "expected a mapping with version, kernel, parameters, restrictions")
        }
        var parameters = template.parameters
        var restrictions: [Restriction] = []
        var sawVersion = false
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { throw fail(keyNode, "keys must be names") }
            switch key {
            case "version":
                guard value.int == 1 else {
                    throw fail(value, "unsupported version '\(value.string ?? "?")' (expected 1)")
                }
                sawVersion = true
            case "kernel":
                guard value.string == template.id else {
                    throw fail(value, "file is for kernel '\(value.string ?? "?")', expected '\(template.id)'")
                }
            case "parameters":
                guard let entries = value.mapping else { throw fail(value, "parameters must map names to domains") }
                for (nameNode, domainNode) in entries {
                    let name = nameNode.string ?? ""
                    guard let index = parameters.firstIndex(where: { $0.name == name }) else {
                        let known = template.parameters.map(\.name).joined(separator: ", ")
                        throw fail(
                            nameNode,
                            "unknown parameter '\(name)' for kernel \(template.id) (expected one of: \(known))")
                    }
                    parameters[index].domain = try domain(domainNode, replacing: template.parameters[index])
                }
            case "restrictions":
                guard let items = value.sequence else {
                    throw fail(value, "restrictions must be a list of expressions")
                }
                for item in items { restrictions.append(try restriction(item, parameters: parameters)) }
            default:
                throw fail(keyNode, "unknown key '\(key)' (expected version, kernel, parameters, restrictions)")
            }
        }
        guard sawVersion else { throw fail(root, "missing key 'version'") }
        return SearchSpace(template, parameters: parameters, restrictions: restrictions)
    }

    private func domain(_ node: Node, replacing parameter: Parameter) throws(AutotuneError) -> Domain {
        if let range = node.mapping {
            guard case .ints = parameter.domain else {
                throw fail(node, "\(parameter.name) is not an integer parameter; list its values instead")
            }
            return try intRange(range, node: node, name: parameter.name)
        }
        guard let items = node.sequence, !items.isEmpty, items.count <= SpaceFile.maximumDomainSize else {
            throw fail(
                node,
                "\(parameter.name) needs a list of 1 to \(SpaceFile.maximumDomainSize) values or a {range: [low, high]}"
            )
        }
        switch parameter.domain {
        case .ints:
            var values: [Int] = []
            for item in items {
                guard let value = item.int, value > 0, value <= SpaceFile.maximumValue else {
                    throw fail(
                        item,
                        "value '\(item.string ?? "?")' of \(parameter.name) is not an integer from 1 to "
                            + "\(SpaceFile.maximumValue)")
                }
                if !values.contains(value) { values.append(value) }
            }
            return .ints(values)
        case .choices(let allowed):
            var values: [String] = []
            for item in items {
                let text = (item.string ?? "").lowercased()
                guard allowed.contains(text) else {
                    throw fail(
                        item,
                        "value '\(item.string ?? "?")' of \(parameter.name) is not one of \(allowed.joined(separator: ", "))"
                    )
                }
                if !values.contains(text) { values.append(text) }
            }
            return .choices(values)
        case .bool:
            var values: [Bool] = []
            for item in items {
                guard let value = item.bool else {
                    throw fail(item, "value '\(item.string ?? "?")' of \(parameter.name) is not true or false")
                }
                if !values.contains(value) { values.append(value) }
            }
            return values.count == 2 ? .bool : .choices(values.map { $0 ? "true" : "false" })
        }
    }

    private func intRange(_ mapping: Node.Mapping, node: Node, name: String) throws(AutotuneError) -> Domain {
        var low: Int?
        var high: Int?
        var powersOfTwo = false
        var step = 1
        for (keyNode, value) in mapping {
            switch keyNode.string ?? "" {
            case "range":
                guard let bounds = value.sequence, bounds.count == 2, let a = bounds[0].int, let b = bounds[1].int,
                    0 < a, a <= b
                else {
                    throw fail(value, "range of \(name) must be [low, high] with 0 < low <= high")
                }
                (low, high) = (a, b)
            case "powers_of_two":
                guard let flag = value.bool else { throw fail(value, "powers_of_two must be true or false") }
                powersOfTwo = flag
            case "step":
                guard let value = value.int, value > 0 else { throw fail(value, "step must be a positive integer") }
                step = value
            default:
                throw fail(
                    keyNode,
                    "unknown key '\(keyNode.string ?? "?")' in the domain of \(name) (expected range, powers_of_two, step)"
                )
            }
        }
        guard let low, let high else { throw fail(node, "domain of \(name) needs range: [low, high]") }
        guard high <= SpaceFile.maximumValue else {
            throw fail(node, "range of \(name) ends at \(high), over the limit of \(SpaceFile.maximumValue)")
        }
        var values: [Int] = []
        if powersOfTwo {
            var power = 1
            while power < low { power *= 2 }
            while power <= high {
                values.append(power)
                power *= 2
            }
        } else {
            let count = (high - low) / step + 1
            guard count <= SpaceFile.maximumDomainSize else {
                throw fail(
                    node,
                    "range of \(name) has \(count) values, over the limit of \(SpaceFile.maximumDomainSize); "
                        + "use a larger step or powers_of_two")
            }
            values = Array(stride(from: low, through: high, by: step))
        }
        guard !values.isEmpty else { throw fail(node, "domain of \(name) is empty") }
        return .ints(values)
    }

    private func restriction(_ node: Node, parameters: [Parameter]) throws(AutotuneError) -> Restriction {
        guard let text = node.string, node.scalar != nil else {
            throw fail(node, "a restriction must be an expression")
        }
        let rule: Restriction
        do {
            rule = try Restriction(text)
        } catch {
            throw AutotuneError(
                .spaceFile, "\(file):\(position(node, error.column ?? 1)): \(error.message) in '\(text)'")
        }
        for name in rule.names.sorted() {
            if let parameter = parameters.first(where: { $0.name == name }) {
                if case .choices = parameter.domain {
                    throw fail(node, "'\(name)' is a choice parameter; restrictions take numbers")
                }
                continue
            }
            if let field = template.problemFields.first(where: { $0.name == name }) {
                if case .choice = field.kind {
                    throw fail(node, "'\(name)' is a problem option; restrictions take numbers")
                }
                continue
            }
            throw fail(node, "unknown name '\(name)' in '\(text)'")
        }
        return rule
    }

    /// `line:column` of a column inside a plain (unquoted) scalar.
    private func position(_ node: Node, _ column: Int) -> String {
        guard let mark = node.mark else { return "1:\(column)" }
        let quoted = node.scalar?.style == .doubleQuoted || node.scalar?.style == .singleQuoted
        return "\(mark.line):\(mark.column + column - 1 + (quoted ? 1 : 0))"
    }

    private static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _):
            return "\(mark.line):\(mark.column): \(problem)" + (context.map { " (\($0.text))" } ?? "")
        default:
            return "\(error)"
        }
    }
}
