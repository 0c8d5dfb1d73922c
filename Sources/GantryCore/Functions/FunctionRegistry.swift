import Foundation

/// Who executes a function's requests.
public enum FunctionExecutor: Sendable {
    /// A Swift handler compiled into this binary, run by the dispatcher (queued) or at once (sync runs).
    case inProcess(AnyHostedFunction)
    /// Runner processes that claim its requests through the runner protocol.
    case runner
}

/// A function ready to serve: its manifest, schemas, validator and executor.
public struct RegisteredFunction: Sendable {
    public let manifest: FunctionManifest
    public let inputSchema: JSONValue
    public let outputSchema: JSONValue
    public let validator: SchemaValidator
    public let executor: FunctionExecutor

    /// A function with its schemas and whoever executes it.
    public init(manifest: FunctionManifest, inputSchema: JSONValue, outputSchema: JSONValue, validator: SchemaValidator,
                executor: FunctionExecutor) {
        self.manifest = manifest
        self.inputSchema = inputSchema
        self.outputSchema = outputSchema
        self.validator = validator
        self.executor = executor
    }

    /// An in-process function.
    public init(manifest: FunctionManifest, inputSchema: JSONValue, outputSchema: JSONValue, validator: SchemaValidator,
                handler: AnyHostedFunction) {
        self.init(manifest: manifest, inputSchema: inputSchema, outputSchema: outputSchema, validator: validator,
                  executor: .inProcess(handler))
    }

    public var id: String { manifest.id }

    /// The Swift handler, for in-process functions.
    public var handler: AnyHostedFunction? {
        if case .inProcess(let handler) = executor { return handler }
        return nil
    }

    /// Whether runners execute this function.
    public var isRunnerFunction: Bool {
        if case .runner = executor { return true }
        return false
    }

    /// Validates a JSON input against the input schema and returns it with defaults applied.
    public func validate(_ input: JSONValue) -> Result<JSONValue, ValidationFailure> {
        validator.validate(input)
    }
}

/// The set of functions this host serves, built from the manifests and the handlers compiled into the binary.
public struct FunctionRegistry: Sendable {
    public let functions: [RegisteredFunction]
    private let byID: [String: RegisteredFunction]

    public init(functions: [RegisteredFunction]) {
        self.functions = functions.sorted { $0.id < $1.id }
        self.byID = Dictionary(functions.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Loads every `*.json` manifest below `functionsDirectory`, its schemas from `schemasDirectory`, and binds each
    /// to the handler of that name. Unknown handlers, missing schemas and duplicate ids are configuration errors.
    public static func load(functionsDirectory: String, schemasDirectory: String, handlers: [String: AnyHostedFunction]) throws -> FunctionRegistry {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: functionsDirectory, isDirectory: &isDirectory), isDirectory.boolValue,
              let enumerator = fileManager.enumerator(atPath: functionsDirectory) else {
            throw ConfigurationError("functions directory \(functionsDirectory) cannot be read")
        }
        var functions: [RegisteredFunction] = []
        var seen = Set<String>()
        for case let relative as String in enumerator where relative.hasSuffix(".json") {
            let path = (functionsDirectory as NSString).appendingPathComponent(relative)
            let manifest: FunctionManifest
            do {
                manifest = try JSONDecoder().decode(FunctionManifest.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
            } catch {
                throw ConfigurationError("manifest \(path) is invalid: \(error)")
            }
            do {
                try manifest.validate()
            } catch let error as ConfigurationError {
                throw ConfigurationError("\(path): \(error.message)")
            }
            guard seen.insert(manifest.id).inserted else { throw ConfigurationError("manifest \(path): duplicate id \(manifest.id)") }
            guard let handler = handlers[manifest.handler] else {
                throw ConfigurationError("manifest \(path): unknown handler \(manifest.handler)")
            }
            let input = try loadSchema(schemasDirectory, manifest.inputSchema, manifest: path)
            let output = try loadSchema(schemasDirectory, manifest.outputSchema, manifest: path)
            functions.append(RegisteredFunction(manifest: manifest, inputSchema: input, outputSchema: output, validator: SchemaValidator(schema: input), handler: handler))
        }
        return FunctionRegistry(functions: functions)
    }

    private static func loadSchema(_ directory: String, _ relative: String, manifest: String) throws -> JSONValue {
        let path = (directory as NSString).appendingPathComponent(relative)
        do {
            return try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw ConfigurationError("manifest \(manifest): schema \(path) cannot be read: \(error)")
        }
    }

    /// The function with exactly this id.
    public func function(id: String) -> RegisteredFunction? { byID[id] }

    /// Resolves path segments `owner/alias[/path…]` to the function with the longest matching id, and returns the
    /// remaining segments (the endpoint path) too.
    public func resolve(segments: [Substring]) -> (function: RegisteredFunction, rest: [Substring])? {
        guard segments.count >= 2 else { return nil }
        for count in stride(from: segments.count, through: 2, by: -1) {
            if let function = byID[segments[0..<count].joined(separator: "/")] {
                return (function, Array(segments[count...]))
            }
        }
        return nil
    }
}
