import Foundation
import GantryCore
import HTTPTypes
import Hummingbird
import NIOCore

/// Reads a function's JSON input from a request body and validates it against the function's input schema.
///
/// Malformed JSON is 400 `json_invalid`, a non-JSON content type 415, a body over the limit 413, and a value that
/// breaks the schema 422 with one pydantic-style item per problem.
enum InputReader {
    /// Reads the body and admits it through the queue's one admit step (schema, submit-time check, `sync_mode`).
    static func read(_ request: Request, function: RegisteredFunction, queue: RequestQueue, maxBytes: Int) async throws -> RequestQueue.Admitted {
        let buffer = try await request.bodyUpTo(maxBytes)
        let value: JSONValue
        if buffer.readableBytes == 0 {
            value = .object([:])
        } else {
            if let type = request.headers[.contentType], !isJSON(type) {
                throw APIError(.unsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json, not \(type)")
            }
            do {
                value = try JSONValue.parse(Data(buffer: buffer))
            } catch {
                throw APIError.field(["body"], "Body is not valid JSON", type: "json_invalid", status: .badRequest)
            }
        }
        guard case .object = value else {
            throw APIError.field(["body"], "Input should be a valid dictionary (a JSON object)", type: "dict_type")
        }
        do {
            return try queue.admit(function, input: value)
        } catch {
            throw APIError(error)
        }
    }

    static func isJSON(_ contentType: String) -> Bool {
        let media = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        return media == "application/json" || (media.hasPrefix("application/") && media.hasSuffix("+json"))
    }
}
