import Foundation
import GantryCore
import HTTPTypes
import Hummingbird

/// `stream_output` (docs/fooocus.md §2.4): server-sent events, one `data:` line per change of a task's progress or
/// message — `{"progress": 0–100, "preview": null, "message": …, "images": []}` — and a last event once it ends:
/// `{"progress": 100, "preview": null, "message": "Finished", "images": [urls]}` (or "Stopped"/"Skipped", or the
/// error). A `:` comment every 15 s keeps idle connections open. The request runs on whether or not the client
/// stays: closing the stream does not stop it.
struct FooocusAPI25Stream: Sendable {
    let queue: RequestQueue
    let records: FooocusAPI25Records
    /// The task's fal call, to name the request's fields in an error message.
    let call: FalCall
    /// The event stream of request `id`.
    func response(id: String, tenant: String, headers: HTTPFields) -> Response {
        RequestEventStream(queue: queue, requestID: id, tenant: tenant) { record in try await self.event(record) }.response(headers: headers)
    }

    /// The event for the request as it stands. While it runs the message is its latest log line (the function's
    /// own progress text), as FooocusAPI sends Fooocus's.
    func event(_ record: RequestRecord) async throws -> JSONValue {
        let message: String
        var progress = FooocusAPI25Records.progress(of: record)
        switch record.state {
        case .queued:
            message = "Waiting in queue"
            progress = 0
        case .running:
            message = try await queue.logs(id: record.id).last?.message ?? "Running"
        case .succeeded:
            message = "Finished"
        case .cancelled:
            message = records.status(of: record) == "skip" ? "Skipped" : "Stopped"
        case .failed, .expired:
            if let error = Completion(stored: record)?.error {
                message = "Error: \(call.mapped(error).message)"
            } else {
                message = "Error: \(record.failure?.message ?? "Request failed")"
            }
        }
        return .object(["progress": .number(Double(progress)), "preview": .null, "message": .string(message),
                        "images": .array(try await records.urls(of: record).map { .string($0) })])
    }
}
