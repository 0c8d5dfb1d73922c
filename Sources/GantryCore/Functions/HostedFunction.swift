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
}

/// A hosted function with its types erased to JSON bytes, as the dispatcher calls it.
public struct AnyHostedFunction: Sendable {
    private let body: @Sendable (Data, RunContext) async throws -> Data

    public init<Function: HostedFunction>(_ function: Function) {
        body = { data, context in
            let input: Function.Input
            if Function.Input.self == JSONValue.self {
                // Functions that take JSON as it is (echo) skip the Codable round trip.
                input = try JSONValue.parse(data) as! Function.Input
            } else {
                do {
                    input = try JSONDecoder().decode(Function.Input.self, from: data)
                } catch let error as DecodingError {
                    throw FunctionError.decoding(error)
                }
            }
            let output = try await function.run(input, context: context)
            if let json = output as? JSONValue { return json.encoded() }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            return try encoder.encode(output)
        }
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
