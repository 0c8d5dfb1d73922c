import Foundation
import GantryCore
import HTTPTypes
import Hummingbird
import NIOCore

/// Reading the runner protocol's JSON bodies: each wrong field is a 422 naming it under `body`.
struct RunnerJSON {
    let object: [String: JSONValue]

    /// The request's JSON object body, read up to `maxBytes`.
    static func read(_ request: Request, maxBytes: Int) async throws -> RunnerJSON {
        let buffer = try await request.bodyUpTo(maxBytes)
        guard let value = try? JSONValue.parse(Data(buffer: buffer)) else {
            throw APIError.field(["body"], "Body is not valid JSON", type: "json_invalid", status: .badRequest)
        }
        guard case .object(let object) = value else {
            throw APIError.field(["body"], "Input should be a valid dictionary (a JSON object)", type: "dict_type")
        }
        return RunnerJSON(object: object)
    }

    subscript(_ key: String) -> JSONValue? { object[key] }

    func string(_ key: String) throws -> String {
        guard let value = object[key] else { throw APIError.field(["body", key], "Field required", type: "missing") }
        guard let string = value.stringValue else { throw APIError.field(["body", key], "Input should be a valid string", type: "string_type") }
        return string
    }

    func optionalString(_ key: String) throws -> String? {
        guard let value = object[key], value != .null else { return nil }
        guard let string = value.stringValue else { throw APIError.field(["body", key], "Input should be a valid string", type: "string_type") }
        return string
    }

    func number(_ key: String, default fallback: Double) throws -> Double {
        guard let value = object[key], value != .null else { return fallback }
        guard let number = value.doubleValue, number.isFinite else {
            throw APIError.field(["body", key], "Input should be a valid number", type: "float_type")
        }
        return number
    }

    func integer(_ key: String, default fallback: Int) throws -> Int {
        let number = try number(key, default: Double(fallback))
        guard let integer = Int(exactly: number) else { throw APIError.field(["body", key], "Input should be a valid integer", type: "int_type") }
        return integer
    }

    func array(_ key: String, required: Bool = true) throws -> [JSONValue] {
        guard let value = object[key], value != .null else {
            if required { throw APIError.field(["body", key], "Field required", type: "missing") }
            return []
        }
        guard let items = value.arrayValue else { throw APIError.field(["body", key], "Input should be a valid list", type: "list_type") }
        return items
    }
}

extension LogEntry {
    /// A log line a runner sent: `{"message", "level"?, "timestamp"?}` (fal's levels; ISO 8601 timestamps).
    init(runnerJSON item: JSONValue, index: Int, now: Date) throws {
        func bad(_ field: String, _ message: String, _ type: String) -> APIError {
            APIError(.unprocessableContent, envelope: ErrorEnvelope(errorType: type, detail: .issues([ValidationIssue(
                loc: [.string("body"), .string("logs"), .number(Double(index)), .string(field)], msg: message, type: type)])))
        }
        guard let message = item["message"]?.stringValue else { throw bad("message", "Field required: a string", "missing") }
        var level = LogEntry.Level.info
        if let name = item["level"]?.stringValue {
            guard let parsed = LogEntry.Level(rawValue: name.uppercased()) else {
                throw bad("level", "Input should be one of STDOUT, STDERR, INFO, WARN, ERROR, DEBUG", "enum")
            }
            level = parsed
        }
        var timestamp = now
        if let text = item["timestamp"]?.stringValue {
            guard let parsed = Self.parseTimestamp(text) else { throw bad("timestamp", "Input should be an ISO 8601 date-time", "datetime_parsing") }
            timestamp = parsed
        }
        self.init(message: message, level: level, source: "USER", timestamp: timestamp)
    }

    static func parseTimestamp(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle())
    }
}
