import Foundation

extension RequestRecord {
    /// The error message and `error_type` of a request that completed without succeeding; nil otherwise.
    public var failure: (message: String, type: String)? {
        switch state {
        case .failed: (errorMessage ?? "Request failed", errorType ?? "function_error")
        case .cancelled: ("Request was cancelled", "request_cancelled")
        case .expired: ("Request timed out before it started", "request_timeout")
        case .queued, .running, .succeeded: nil
        }
    }
}

/// Builds the body of a request's webhook. Built from the stored (terminal, immutable) request at each attempt,
/// so every attempt carries the same bytes.
public enum WebhookPayload {
    /// The JSON body for `record` in `format`.
    public static func body(for record: RequestRecord, format: WebhookFormat) -> Data {
        switch format {
        case .fal: fal(record).encoded()
        case .fooocus: fooocus(record).encoded()
        }
    }

    /// fal's shape: `{"request_id", "gateway_request_id", "status": "OK"|"ERROR", "payload", "error"}`, with
    /// `payload` the body the result route replays (the output, or the error body) and `payload_error` in place
    /// of a payload that is not JSON.
    static func fal(_ record: RequestRecord) -> JSONValue {
        var body: [String: JSONValue] = [
            "request_id": .string(record.id), "gateway_request_id": .string(record.id),
            "status": .string(record.state == .succeeded ? "OK" : "ERROR"),
        ]
        if let result = record.result {
            do {
                body["payload"] = try JSONValue.parse(result.body)
            } catch {
                body["payload"] = .null
                body["payload_error"] = .string("the output is not valid JSON (\(result.body.count) bytes)")
            }
            body["error"] = result.status == 200 && record.state == .succeeded ? .null : .string("Invalid status code: \(result.status)")
        } else if let (message, type) = record.failure {
            body["payload"] = ErrorEnvelope(type, message).json
            body["error"] = .string(message)
        } else {
            body["payload"] = .null
            body["error"] = .null
        }
        return .object(body)
    }

    /// Fooocus-API's shape: `{"job_id", "job_result": [{"url", "seed"}]}` (seeds as strings, as Fooocus-API sends
    /// them; an empty list when the job did not succeed, as Fooocus-API sends it).
    static func fooocus(_ record: RequestRecord) -> JSONValue {
        var results: JSONValue = .array([])
        if record.state == .succeeded, let body = record.result?.body, case .object(let output)? = try? JSONValue.parse(body),
           case .array(let images)? = output["images"] {
            let seed: Double? = if case .number(let value)? = output["seed"] { value } else { nil }
            results = .array(images.enumerated().map { index, image in
                let url: JSONValue = if case .object(let fields) = image, let url = fields["url"] { url } else { .null }
                let seedText: JSONValue = seed.map { .string(String(UInt64($0) &+ UInt64(index))) } ?? .null
                return .object(["url": url, "seed": seedText])
            })
        }
        return .object(["job_id": .string(record.id), "job_result": results])
    }
}
