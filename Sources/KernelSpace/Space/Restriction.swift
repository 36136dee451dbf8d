/// A restriction over parameter and problem names, in a small safe language: integer literals,
/// names, `+ - * / %` (integer division), parentheses, comparisons `== != < <= > >=`, and `and`,
/// `or`, `not`. Nothing else can be written, so a space file cannot run code.
///
/// Arithmetic is checked: a result outside the 64-bit integers is an error naming the operation,
/// never a wrapped value or a trap. An expression is at most ``maximumLength`` characters and
/// nests at most ``maximumDepth`` levels, so no input can exhaust the stack.
///
/// ```swift
/// let rule = try Restriction("tile_n % 128 == 0 and block_k * tile_k <= K")
/// let ok = try rule.holds { name in ["tile_n": 256, "block_k": 4, "tile_k": 128, "K": 2048][name] }
/// ```
public struct Restriction: Hashable, Sendable, CustomStringConvertible {
    indirect enum Node: Hashable, Sendable {
        case number(Int)
        case name(String, column: Int)
        case unary(String, Node, column: Int)
        case binary(String, Node, Node, column: Int)
    }

    /// The text as written.
    public let text: String
    let root: Node

    /// The text shown to a person.
    public var description: String { text }

    /// Longest expression accepted, in characters.
    public static let maximumLength = 1024
    /// Deepest nesting of parentheses and unary operators accepted.
    public static let maximumDepth = 64

    /// Parses an expression.
    public init(_ text: String) throws(KernelSpaceError) {
        guard text.count <= Self.maximumLength else {
            throw KernelSpaceError(
                .expression(column: Self.maximumLength + 1),
                "expression is \(text.count) characters long, over the limit of \(Self.maximumLength)")
        }
        self.text = text
        var parser = ExpressionParser(text)
        root = try parser.parseWhole()
    }

    /// Names the expression refers to.
    public var names: Set<String> {
        var names = Set<String>()
        func visit(_ node: Node) {
            switch node {
            case .number: break
            case .name(let name, _): names.insert(name)
            case .unary(_, let operand, _): visit(operand)
            case .binary(_, let left, let right, _):
                visit(left)
                visit(right)
            }
        }
        visit(root)
        return names
    }

    /// Evaluates the expression; a nonzero result holds. `lookup` gives each name's value, or nil
    /// for an unknown name (an error naming it).
    public func holds(_ lookup: (String) -> Int?) throws(KernelSpaceError) -> Bool {
        try evaluate(root, lookup) != 0
    }

    private func evaluate(_ node: Node, _ lookup: (String) -> Int?) throws(KernelSpaceError) -> Int {
        switch node {
        case .number(let value): return value
        case .name(let name, let column):
            guard let value = lookup(name) else {
                throw KernelSpaceError(.expression(column: column), "unknown name '\(name)'")
            }
            return value
        case .unary(let op, let operand, let column):
            let value = try evaluate(operand, lookup)
            guard op == "-" else { return value == 0 ? 1 : 0 }
            let (negated, overflow) = Int(0).subtractingReportingOverflow(value)
            if overflow { throw Self.overflow("-(\(value))", column: column) }
            return negated
        case .binary(let op, let left, let right, let column):
            let a = try evaluate(left, lookup)
            if op == "and" { return a != 0 ? (try evaluate(right, lookup) != 0 ? 1 : 0) : 0 }
            if op == "or" { return a != 0 ? 1 : (try evaluate(right, lookup) != 0 ? 1 : 0) }
            let b = try evaluate(right, lookup)
            let result: (partialValue: Int, overflow: Bool)
            switch op {
            case "+": result = a.addingReportingOverflow(b)
            case "-": result = a.subtractingReportingOverflow(b)
            case "*": result = a.multipliedReportingOverflow(by: b)
            case "/", "%":
                guard b != 0 else { throw KernelSpaceError(.expression(column: column), "division by zero") }
                result = op == "/" ? a.dividedReportingOverflow(by: b) : a.remainderReportingOverflow(dividingBy: b)
            case "==": return a == b ? 1 : 0
            case "!=": return a != b ? 1 : 0
            case "<": return a < b ? 1 : 0
            case "<=": return a <= b ? 1 : 0
            case ">": return a > b ? 1 : 0
            default: return a >= b ? 1 : 0
            }
            if result.overflow { throw Self.overflow("\(a) \(op) \(b)", column: column) }
            return result.partialValue
        }
    }

    private static func overflow(_ operation: String, column: Int) -> KernelSpaceError {
        KernelSpaceError(
            .expression(column: column), "integer overflow in \(operation) (values must stay within ±\(Int.max))")
    }
}

/// Recursive-descent parser: or < and < not < comparison < sum < product < unary < atom.
struct ExpressionParser {
    private struct Token {
        var text: String
        var column: Int
        var isNumber: Bool
        var isName: Bool
    }

    private var tokens: [Token] = []
    private var position = 0
    private var depth = 0
    private var lexError: KernelSpaceError?

    init(_ text: String) {
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            let column = index + 1
            if character == " " || character == "\t" {
                index += 1
            } else if character.isNumber {
                var end = index
                while end < characters.count && characters[end].isNumber { end += 1 }
                tokens.append(
                    Token(text: String(characters[index..<end]), column: column, isNumber: true, isName: false))
                index = end
            } else if character.isLetter || character == "_" {
                var end = index
                while end < characters.count
                    && (characters[end].isLetter || characters[end].isNumber || characters[end] == "_")
                {
                    end += 1
                }
                tokens.append(
                    Token(text: String(characters[index..<end]), column: column, isNumber: false, isName: true))
                index = end
            } else {
                let pair = index + 1 < characters.count ? String(characters[index...(index + 1)]) : ""
                if ["==", "!=", "<=", ">="].contains(pair) {
                    tokens.append(Token(text: pair, column: column, isNumber: false, isName: false))
                    index += 2
                } else if "+-*/%()<>".contains(character) {
                    tokens.append(Token(text: String(character), column: column, isNumber: false, isName: false))
                    index += 1
                } else {
                    lexError = KernelSpaceError(.expression(column: column), "unexpected character '\(character)'")
                    break
                }
            }
        }
    }

    private var current: Token? { position < tokens.count ? tokens[position] : nil }

    private mutating func accept(_ text: String) -> Token? {
        guard let token = current, !token.isNumber, token.text == text else { return nil }
        position += 1
        return token
    }

    mutating func parseWhole() throws(KernelSpaceError) -> Restriction.Node {
        if let lexError { throw lexError }
        guard !tokens.isEmpty else { throw KernelSpaceError(.expression(column: 1), "empty expression") }
        let node = try parseOr()
        if let token = current {
            throw KernelSpaceError(.expression(column: token.column), "unexpected '\(token.text)'")
        }
        return node
    }

    private mutating func parseOr() throws(KernelSpaceError) -> Restriction.Node {
        var node = try parseAnd()
        while let token = accept("or") { node = .binary("or", node, try parseAnd(), column: token.column) }
        return node
    }

    private mutating func parseAnd() throws(KernelSpaceError) -> Restriction.Node {
        var node = try parseNot()
        while let token = accept("and") { node = .binary("and", node, try parseNot(), column: token.column) }
        return node
    }

    /// Counts one more level of nesting at `column`, refusing past ``Restriction/maximumDepth``.
    private mutating func descend(_ column: Int) throws(KernelSpaceError) {
        depth += 1
        guard depth <= Restriction.maximumDepth else {
            throw KernelSpaceError(
                .expression(column: column),
                "expression nests deeper than the limit of \(Restriction.maximumDepth) levels")
        }
    }

    private mutating func parseNot() throws(KernelSpaceError) -> Restriction.Node {
        if let token = accept("not") {
            try descend(token.column)
            defer { depth -= 1 }
            return .unary("not", try parseNot(), column: token.column)
        }
        return try parseComparison()
    }

    private mutating func parseComparison() throws(KernelSpaceError) -> Restriction.Node {
        let node = try parseSum()
        for op in ["==", "!=", "<=", ">=", "<", ">"] {
            if let token = accept(op) { return .binary(op, node, try parseSum(), column: token.column) }
        }
        return node
    }

    private mutating func parseSum() throws(KernelSpaceError) -> Restriction.Node {
        var node = try parseProduct()
        while true {
            if let token = accept("+") {
                node = .binary("+", node, try parseProduct(), column: token.column)
            } else if let token = accept("-") {
                node = .binary("-", node, try parseProduct(), column: token.column)
            } else {
                return node
            }
        }
    }

    private mutating func parseProduct() throws(KernelSpaceError) -> Restriction.Node {
        var node = try parseUnary()
        while true {
            if let token = accept("*") ?? accept("/") ?? accept("%") {
                node = .binary(token.text, node, try parseUnary(), column: token.column)
            } else {
                return node
            }
        }
    }

    private mutating func parseUnary() throws(KernelSpaceError) -> Restriction.Node {
        if let token = accept("-") {
            try descend(token.column)
            defer { depth -= 1 }
            return .unary("-", try parseUnary(), column: token.column)
        }
        return try parseAtom()
    }

    private mutating func parseAtom() throws(KernelSpaceError) -> Restriction.Node {
        guard let token = current else {
            let column = tokens.last.map { $0.column + $0.text.count } ?? 1
            throw KernelSpaceError(.expression(column: column), "expression ends early")
        }
        position += 1
        if token.isNumber {
            guard let value = Int(token.text) else {
                throw KernelSpaceError(.expression(column: token.column), "number too large")
            }
            return .number(value)
        }
        if token.isName {
            if ["and", "or", "not"].contains(token.text) {
                throw KernelSpaceError(.expression(column: token.column), "unexpected '\(token.text)'")
            }
            return .name(token.text, column: token.column)
        }
        if token.text == "(" {
            try descend(token.column)
            defer { depth -= 1 }
            let inner = try parseOr()
            guard accept(")") != nil else {
                throw KernelSpaceError(.expression(column: current?.column ?? token.column), "missing ')'")
            }
            return inner
        }
        throw KernelSpaceError(.expression(column: token.column), "unexpected '\(token.text)'")
    }
}
