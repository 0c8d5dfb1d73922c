import Foundation

/// A function the host can run: decode input, do the work, return output.
///
/// A new function is a schema pair in `schemas/`, a manifest in `functions/` and one conforming type registered
/// under the manifest's `handler` name.
public protocol HostedFunction: Sendable {
    associatedtype Input: Decodable & Sendable
    associatedtype Output: Encodable & Sendable
    /// Runs one request. Throw `FunctionError` for answers other than success; check `Task.isCancelled` (or call
    /// `try Task.checkCancellation()`) between steps so cancellation and timeouts take effect promptly.
    func run(_ input: Input, context: RunContext) async throws -> Output

    /// Checks, at submit time, what the schema cannot express (a combination of fields, a capability the engine
    /// lacks). Throw `FunctionError` to refuse the request before it is queued. The default accepts everything.
    func check(_ input: Input) throws

    /// Whether `check` does anything; when false the host skips decoding the input for it.
    static var checksAtSubmit: Bool { get }
}

extension HostedFunction {
    public func check(_ input: Input) throws {}
    public static var checksAtSubmit: Bool { false }
}

/// A hosted function with its types erased to JSON bytes, as the dispatcher calls it.
public struct AnyHostedFunction: Sendable {
    private let body: @Sendable (Data, RunContext) async throws -> Data
    private let checker: (@Sendable (Data) throws -> Void)?

    public init<Function: HostedFunction>(_ function: Function) {
        if Function.checksAtSubmit {
            checker = { data in try function.check(try Self.decode(Function.Input.self, data)) }
        } else {
            checker = nil
        }
        body = { data, context in
            let input = try Self.decode(Function.Input.self, data)
            let output = try await function.run(input, context: context)
            if let json = output as? JSONValue { return json.encoded() }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            return try encoder.encode(output)
        }
    }

    private static func decode<Input: Decodable>(_ type: Input.Type, _ data: Data) throws -> Input {
        if Input.self == JSONValue.self {
            // Functions that take JSON as it is (echo) skip the Codable round trip.
            return try JSONValue.parse(data) as! Input
        }
        do {
            return try JSONDecoder().decode(Input.self, from: data)
        } catch let error as DecodingError {
            throw FunctionError.decoding(error)
        }
    }

    /// Decodes the JSON input and runs the function's submit-time check.
    public func check(input: Data) throws {
        try checker?(input)
    }

    /// Decodes the JSON input, runs the function and encodes its output.
    public func run(input: Data, context: RunContext) async throws -> Data {
        try await body(input, context)
    }
}

extension FunctionError {
    /// Input that passed the JSON Schema but not the Swift type (a schema and a type that disagree, or a value
    /// the schema cannot express) is still the caller's error: 422 naming the field.
    static func decoding(_ error: DecodingError) -> FunctionError {
        let (path, reason): ([any CodingKey], String) = switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context): (context.codingPath, context.debugDescription)
        case .keyNotFound(let key, let context): (context.codingPath + [key], "Field required")
        @unknown default: ([], "invalid input")
        }
        let field = path.map { $0.intValue.map(String.init) ?? $0.stringValue }
        return .input(field: field, code: "value_error", message: reason)
    }
}
