import Foundation
import GantryCore
import HTTPTypes
import Hummingbird

/// `GET …/requests/{id}/status/stream`: server-sent events, one `data:` line per status change (the same object as
/// the status route), a `:` comment every 15 s as keepalive, closed after the COMPLETED event. No `id:` fields:
/// httpx-sse would then emit empty events after every keepalive.
struct FalStatusStream {
    let surface: FalSurface
    /// Keepalive period.
    static let keepalive: Duration = .seconds(15)
    /// Upper bound on one wait, so changes made by another process are seen even without a local wake-up.
    static let recheck: Duration = .seconds(1)

    func stream(_ request: Request, context: GantryRequestContext, path: FalRoute.RequestPath) async throws -> Response {
        let withLogs = try FalSurface.logsFlag(request)
        let first = try await surface.load(path, tenant: context.tenant)
        let notifier = surface.queue.notifier
        let queue = surface.queue
        let surface = self.surface
        var headers: HTTPFields = [.falRequestID: first.id, .contentType: "text/event-stream", .cacheControl: "no-store"]
        headers[HTTPField.Name("x-accel-buffering")!] = "no"
        let body = ResponseBody { writer in
            var lastSent: JSONValue?
            var lastWrite = ContinuousClock.now
            while true {
                let subscription = notifier.subscribe(first.id)
                guard let record = try await queue.store.requestGet(id: first.id) else {
                    subscription.cancel()
                    break
                }
                let status = try await surface.statusBody(record, namespace: path.namespace, withLogs: withLogs)
                if status != lastSent {
                    try await writer.write(ByteBuffer(string: "data: \(String(decoding: status.encoded(), as: UTF8.self))\n\n"))
                    lastSent = status
                    lastWrite = .now
                }
                if record.state.isTerminal {
                    subscription.cancel()
                    break
                }
                let untilKeepalive = Self.keepalive - (ContinuousClock.now - lastWrite)
                if untilKeepalive <= .zero {
                    try await writer.write(ByteBuffer(string: ": keepalive\n\n"))
                    lastWrite = .now
                }
                await subscription.wait(timeout: min(Self.recheck, max(untilKeepalive, .milliseconds(10))))
                if Task.isCancelled { break }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }
}
