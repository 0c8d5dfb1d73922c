import Foundation

/// One input problem, in pydantic's shape: where (`loc`), what (`msg`) and a machine-readable `type`.
public struct ValidationIssue: Sendable, Equatable, Codable {
    /// Path of the offending value, starting with `"body"`; array indices are numbers.
    public var loc: [JSONValue]
    public var msg: String
    public var type: String

    public init(loc: [JSONValue], msg: String, type: String) {
        self.loc = loc
        self.msg = msg
        self.type = type
    }
}

/// Validates JSON values against the subset of JSON Schema that function schemas use — `type` (one or a list),
/// `enum`, `const`, `required`, `properties`, `items`, `minimum`/`maximum` (and the exclusive forms),
/// `minLength`/`maxLength`, `minItems`/`maxItems`, `anyOf` (and `oneOf` read as it), `allOf`, `$ref` into `$defs`/`definitions`, `default` —
/// and fills in defaults. Unknown properties are kept and ignored, as fal's pydantic models do.
public struct SchemaValidator: Sendable {
    public let schema: JSONValue

    public init(schema: JSONValue) {
        self.schema = schema
    }

    /// Returns the input with defaults applied, or every issue found.
    public func validate(_ input: JSONValue) -> Result<JSONValue, ValidationFailure> {
        var issues: [ValidationIssue] = []
        var visits = 0
        let value = check(input, against: schema, at: [.string("body")], issues: &issues, visits: &visits)
        return issues.isEmpty ? .success(value) : .failure(ValidationFailure(issues: issues))
    }

    private func resolve(_ node: JSONValue) -> JSONValue {
        guard let ref = node["$ref"]?.stringValue else { return node }
        let parts = ref.split(separator: "/").map(String.init)
        guard parts.first == "#" else { return node }
        var current = schema
        for part in parts.dropFirst() {
            guard let next = current[part] else { return node }
            current = next
        }
        // Keys written beside `$ref` (pydantic puts `default` and `description` there) refine the target.
        guard case .object(var merged) = current, let siblings = node.objectValue, siblings.count > 1 else { return current }
        for (key, value) in siblings where key != "$ref" { merged[key] = value }
        return .object(merged)
    }

    /// How many schema nodes a value may be checked through without descending into the value: a schema that
    /// refers to itself through `anyOf`/`$ref` (a runner may declare anything) ends there instead of looping.
    static let maxSchemaHops = 64

    /// How many schema nodes one validation may visit in all: `anyOf` branches that each refer back to the union
    /// multiply, so a declared schema could otherwise make every submit cost without bound.
    static let maxVisits = 100_000

    private func check(_ value: JSONValue, against rawNode: JSONValue, at loc: [JSONValue], issues: inout [ValidationIssue],
                       visits: inout Int, hops: Int = 0) -> JSONValue {
        visits += 1
        guard hops < Self.maxSchemaHops, visits <= Self.maxVisits else {
            // Every check past the limit fails, so no branch of a union can pass by being cut short.
            issues.append(ValidationIssue(loc: loc, msg: "The schema is too complex to check this value against", type: "schema_error"))
            return value
        }
        let node = resolve(rawNode)
        if let parts = node["allOf"]?.arrayValue {
            // Every part applies, each seeing the defaults the previous ones filled in.
            var current = value
            for part in parts { current = check(current, against: part, at: loc, issues: &issues, visits: &visits, hops: hops + 1) }
            var rest = node.objectValue ?? [:]
            rest.removeValue(forKey: "allOf")
            return rest.isEmpty ? current : check(current, against: .object(rest), at: loc, issues: &issues, visits: &visits, hops: hops + 1)
        }
        if let options = (node["anyOf"] ?? node["oneOf"])?.arrayValue {
            for option in options {
                var optionIssues: [ValidationIssue] = []
                let checked = check(value, against: option, at: loc, issues: &optionIssues, visits: &visits, hops: hops + 1)
                if optionIssues.isEmpty { return checked }
            }
            var firstIssues: [ValidationIssue] = []
            if let first = options.first { _ = check(value, against: first, at: loc, issues: &firstIssues, visits: &visits, hops: hops + 1) }
            issues.append(contentsOf: firstIssues.isEmpty ? [ValidationIssue(loc: loc, msg: "Input does not match any allowed form", type: "union_error")] : firstIssues)
            return value
        }
        if let types = allowedTypes(node), !types.contains(where: { matches(value, type: $0) }) {
            issues.append(typeIssue(for: types, value: value, at: loc))
            return value
        }
        if let constant = node["const"], constant != value {
            issues.append(ValidationIssue(loc: loc, msg: "Input should be \(describe(constant))", type: "literal_error"))
        }
        if let options = node["enum"]?.arrayValue, !options.contains(value) {
            let names = options.map(describe).joined(separator: ", ")
            issues.append(ValidationIssue(loc: loc, msg: "Input should be one of: \(names)", type: "enum"))
        }
        switch value {
        case .number(let number): checkBounds(number, node: node, at: loc, issues: &issues)
        case .string(let string): checkLength(string.count, node: node, at: loc, issues: &issues, what: "String", unit: "character")
        case .array(let items):
            checkItems(items.count, node: node, at: loc, issues: &issues)
            if let itemSchema = node["items"] {
                return .array(items.enumerated().map { index, item in
                    check(item, against: itemSchema, at: loc + [.number(Double(index))], issues: &issues, visits: &visits)
                })
            }
        case .object(var object):
            let properties = node["properties"]?.objectValue ?? [:]
            for name in node["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where object[name] == nil {
                issues.append(ValidationIssue(loc: loc + [.string(name)], msg: "Field required", type: "missing"))
            }
            for (name, propertySchema) in properties.sorted(by: { $0.key < $1.key }) {
                if let present = object[name] {
                    object[name] = check(present, against: propertySchema, at: loc + [.string(name)], issues: &issues, visits: &visits)
                } else if let fallback = resolve(propertySchema)["default"] {
                    object[name] = fallback
                }
            }
            return .object(object)
        default: break
        }
        return value
    }

    private func allowedTypes(_ node: JSONValue) -> [String]? {
        switch node["type"] {
        case .string(let type): [type]
        case .array(let types): types.compactMap(\.stringValue)
        default: nil
        }
    }

    private func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("number", .number), ("string", .string), ("array", .array), ("object", .object): true
        case ("integer", .number(let number)): number.rounded() == number && abs(number) < 9.0e15
        default: false
        }
    }

    private func typeIssue(for types: [String], value: JSONValue, at loc: [JSONValue]) -> ValidationIssue {
        let primary = types.first { $0 != "null" } ?? types[0]
        let (name, code): (String, String) = switch primary {
        case "integer": (value.doubleValue != nil ? "a valid integer, got a number with a fractional part" : "a valid integer", value.doubleValue != nil ? "int_from_float" : "int_type")
        case "number": ("a valid number", "float_type")
        case "boolean": ("a valid boolean", "bool_type")
        case "string": ("a valid string", "string_type")
        case "array": ("a valid list", "list_type")
        case "object": ("a valid dictionary", "dict_type")
        default: ("null", "none_required")
        }
        return ValidationIssue(loc: loc, msg: "Input should be \(name)", type: code)
    }

    private func checkBounds(_ number: Double, node: JSONValue, at loc: [JSONValue], issues: inout [ValidationIssue]) {
        if let bound = node["minimum"]?.doubleValue, number < bound {
            issues.append(ValidationIssue(loc: loc, msg: "Input should be greater than or equal to \(format(bound))", type: "greater_than_equal"))
        }
        if let bound = node["maximum"]?.doubleValue, number > bound {
            issues.append(ValidationIssue(loc: loc, msg: "Input should be less than or equal to \(format(bound))", type: "less_than_equal"))
        }
        if let bound = node["exclusiveMinimum"]?.doubleValue, number <= bound {
            issues.append(ValidationIssue(loc: loc, msg: "Input should be greater than \(format(bound))", type: "greater_than"))
        }
        if let bound = node["exclusiveMaximum"]?.doubleValue, number >= bound {
            issues.append(ValidationIssue(loc: loc, msg: "Input should be less than \(format(bound))", type: "less_than"))
        }
    }

    private func checkLength(_ count: Int, node: JSONValue, at loc: [JSONValue], issues: inout [ValidationIssue], what: String, unit: String) {
        if let bound = node["minLength"]?.doubleValue, Double(count) < bound {
            issues.append(ValidationIssue(loc: loc, msg: "\(what) should have at least \(format(bound)) \(unit)s", type: "string_too_short"))
        }
        if let bound = node["maxLength"]?.doubleValue, Double(count) > bound {
            issues.append(ValidationIssue(loc: loc, msg: "\(what) should have at most \(format(bound)) \(unit)s", type: "string_too_long"))
        }
    }

    private func checkItems(_ count: Int, node: JSONValue, at loc: [JSONValue], issues: inout [ValidationIssue]) {
        if let bound = node["minItems"]?.doubleValue, Double(count) < bound {
            issues.append(ValidationIssue(loc: loc, msg: "List should have at least \(format(bound)) items", type: "too_short"))
        }
        if let bound = node["maxItems"]?.doubleValue, Double(count) > bound {
            issues.append(ValidationIssue(loc: loc, msg: "List should have at most \(format(bound)) items", type: "too_long"))
        }
    }

    private func format(_ number: Double) -> String {
        number.rounded() == number ? String(Int64(number)) : String(number)
    }

    private func describe(_ value: JSONValue) -> String {
        switch value {
        case .string(let string): "'\(string)'"
        default: String(decoding: value.encoded(), as: UTF8.self)
        }
    }
}

/// The issues that made an input invalid.
public struct ValidationFailure: Error, Sendable, Equatable {
    public var issues: [ValidationIssue]

    public init(issues: [ValidationIssue]) {
        self.issues = issues
    }
}
