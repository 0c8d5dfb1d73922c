import Foundation
import GantryCore
import HTTPTypes
import Hummingbird

/// A server-sent-event body that follows one stored request: a `data:` event whenever the object `event` makes of the
/// request changes, a `:` comment as keepalive when idle, closed after the event of a terminal state. No `id:`
/// fields (httpx-sse would emit empty events after every keepalive). Waits on the queue's notifier, re-reading at
/// least every `recheck` so changes made by another process are seen too.
struct RequestEventStream: Sendable {
    let queue: RequestQueue
    let requestID: String
    /// The request's tenant (the watch reads another tenant's request as gone).
    let tenant: String
    /// The event object for the request as it stands.
    let event: @Sendable (RequestRecord) async throws -> JSONValue
    var keepalive: Duration = .seconds(15)
    var recheck: Duration = .seconds(1)

    /// The response: `headers` plus the event-stream content type and no caching or proxy buffering.
    func response(headers: HTTPFields) -> Response {
        var fields = headers
        fields[.contentType] = "text/event-stream"
        fields[.cacheControl] = "no-store"
        fields[HTTPField.Name("x-accel-buffering")!] = "no"
        return Response(status: .ok, headers: fields, body: ResponseBody { writer in
            try await run(&writer)
            try await writer.finish(nil)
        })
    }

    private func run(_ writer: inout any ResponseBodyWriter) async throws {
        var lastSent: JSONValue?
        var lastWrite = ContinuousClock.now
        var watch = queue.watch(id: requestID, tenant: tenant)
        defer { watch.close() }
        var wait = Duration.zero
        while !Task.isCancelled {
            guard let record = try await watch.next(timeout: wait) else { return }
            let current = try await event(record)
            if current != lastSent {
                try await writer.write(ByteBuffer(string: "data: \(String(decoding: current.encoded(), as: UTF8.self))\n\n"))
                lastSent = current
                lastWrite = .now
            }
            if record.state.isTerminal { return }
            let untilKeepalive = keepalive - (ContinuousClock.now - lastWrite)
            if untilKeepalive <= .zero {
                try await writer.write(ByteBuffer(string: ": keepalive\n\n"))
                lastWrite = .now
            }
            wait = min(recheck, max(untilKeepalive, .milliseconds(10)))
        }
    }
}
