import Foundation

/// A function as a runner declares it at registration: id, JSON Schemas and limits. Stored as canonical JSON in
/// the store's registrations, and turned into a `RegisteredFunction` served by runners.
public struct RunnerFunctionDeclaration: Sendable, Equatable {
    public var id: String
    public var title: String?
    public var description: String?
    public var inputSchema: JSONValue
    public var outputSchema: JSONValue
    /// Requests of this function one instance runs at once.
    public var concurrency: Int
    public var timeoutSeconds: Double
    public var maxAttempts: Int

    /// The largest schema accepted (encoded), so a declaration cannot make every status read heavy.
    static let maxSchemaBytes = 1 << 20

    /// Reads and checks one declaration; errors name the field under `loc` (e.g. `["functions", 0, "concurrency"]`).
    public init(json: JSONValue, loc: [JSONValue]) throws(RunnerError) {
        func bad(_ field: String, _ message: String, _ type: String = "value_error") -> RunnerError {
            RunnerError.field(loc + [.string(field)], message, type: type)
        }
        guard case .object(let object) = json else { throw RunnerError.field(loc, "A function declaration must be an object", type: "dict_type") }
        guard let id = object["id"]?.stringValue else { throw bad("id", "Field required: the function id, owner/alias[/path]", "missing") }
        let manifest = FunctionManifest(id: id, handler: "runner", inputSchema: "", outputSchema: "")
        do { try manifest.validate() } catch {
            throw bad("id", "Must look like owner/alias[/path] (no namespace, no 'requests' segment, not one of the host's own prefixes)")
        }
        if id.split(separator: "/").last == "stream" { throw bad("id", "The last segment may not be 'stream' (it is fal's output-stream path)") }
        self.id = id
        title = object["title"]?.stringValue
        description = object["description"]?.stringValue
        for name in ["input_schema", "output_schema"] {
            guard case .object(let schema)? = object[name] else { throw bad(name, "Must be a JSON Schema object", "dict_type") }
            if let type = schema["type"], name == "input_schema", type != .string("object") {
                throw bad(name, "The input schema must describe an object (\"type\": \"object\")")
            }
            if JSONValue.object(schema).encoded().count > Self.maxSchemaBytes {
                throw bad(name, "Larger than \(Self.maxSchemaBytes) bytes")
            }
        }
        inputSchema = object["input_schema"]!
        outputSchema = object["output_schema"]!
        guard let concurrency = Self.integer(object["concurrency"], default: 1, in: 1...1024) else {
            throw bad("concurrency", "Must be an integer from 1 to 1024")
        }
        guard let maxAttempts = Self.integer(object["max_attempts"], default: 3, in: 1...100) else {
            throw bad("max_attempts", "Must be an integer from 1 to 100")
        }
        self.concurrency = concurrency
        self.maxAttempts = maxAttempts
        switch object["timeout_seconds"] {
        case nil, .null?: timeoutSeconds = 600
        case .number(let value)? where value > 0 && value <= 7 * 86_400: timeoutSeconds = value
        default: throw bad("timeout_seconds", "Must be a number of seconds above 0 and at most 604800")
        }
    }

    /// An optional integer field: its default when absent, nil when it is not an integer within `range`.
    private static func integer(_ value: JSONValue?, default fallback: Int, in range: ClosedRange<Int>) -> Int? {
        switch value {
        case nil, .null?: return fallback
        case .number(let number)?:
            guard let integer = Int(exactly: number), range.contains(integer) else { return nil }
            return integer
        default: return nil
        }
    }

    /// The canonical JSON kept in the store.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(id), "input_schema": inputSchema, "output_schema": outputSchema,
            "concurrency": .number(Double(concurrency)), "timeout_seconds": .number(timeoutSeconds),
            "max_attempts": .number(Double(maxAttempts)),
        ]
        if let title { object["title"] = .string(title) }
        if let description { object["description"] = .string(description) }
        return .object(object)
    }

    /// The function this declaration makes, served by runners.
    public var registeredFunction: RegisteredFunction {
        let manifest = FunctionManifest(id: id, handler: "runner", title: title, description: description, inputSchema: "(registered)",
                                        outputSchema: "(registered)", concurrency: concurrency, timeoutSeconds: timeoutSeconds,
                                        maxAttempts: maxAttempts)
        return RegisteredFunction(manifest: manifest, inputSchema: inputSchema, outputSchema: outputSchema,
                                  validator: SchemaValidator(schema: inputSchema), executor: .runner)
    }
}
