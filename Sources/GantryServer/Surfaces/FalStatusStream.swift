import Foundation
import GantryCore
import HTTPTypes
import Hummingbird

/// `GET …/requests/{id}/status/stream`: server-sent events, one `data:` line per status change (the same object as
/// the status route), a `:` comment every 15 s as keepalive, closed after the COMPLETED event. No `id:` fields:
/// httpx-sse would then emit empty events after every keepalive.
struct FalStatusStream {
    let surface: FalSurface

    func stream(_ request: Request, context: GantryRequestContext, path: FalRoute.RequestPath) async throws -> Response {
        let withLogs = try FalSurface.logsFlag(request)
        let first = try await surface.load(path, tenant: context.tenant)
        let surface = self.surface
        return RequestEventStream(queue: surface.queue, requestID: first.id, tenant: context.tenant) { record in
            try await surface.statusBody(record, namespace: path.namespace, withLogs: withLogs)
        }.response(headers: [.falRequestID: first.id])
    }
}
