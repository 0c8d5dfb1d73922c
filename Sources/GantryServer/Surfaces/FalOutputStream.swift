import Foundation
import GantryCore
import HTTPTypes
import Hummingbird

/// `POST /{owner}/{alias}/stream` (what `fal_client.stream` calls): runs the request through the queue and answers
/// with server-sent events — one `data:` event per partial output the function emits, in order, then one with the
/// final output, and the stream closes. A function that fails after the stream began ends it with an event holding
/// the error envelope (`{"detail", "error_type"}`); an input that fails validation is a plain 422 before any event.
/// Keepalive comments every 15 s; no `id:` fields (httpx-sse would then emit empty events after each keepalive).
/// A client that goes away cancels the request, as on the run surface.
struct FalOutputStream {
    let surface: FalSurface
    var keepalive: Duration = .seconds(15)

    func stream(_ request: Request, context: GantryRequestContext, app: [Substring]) async throws -> Response {
        let queue = surface.queue
        let function = try surface.function(for: app)
        let admitted = try await InputReader.read(request, function: function, queue: queue, maxBytes: surface.configuration.maxBodyBytes)
        let startTimeout = try FalSurface.startTimeout(request)
        let record = try await queue.submit(.init(admitted, tenant: context.tenant, startTimeout: startTimeout)).record
        context.logger.info("streaming", metadata: ["request_id": "\(record.id)", "function": "\(function.id)"])
        let tenant = context.tenant
        let keepalive = self.keepalive
        var headers: HTTPFields = [.falRequestID: record.id]
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-store"
        headers[HTTPField.Name("x-accel-buffering")!] = "no"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            do {
                try await Self.events(queue: queue, id: record.id, tenant: tenant, keepalive: keepalive, writer: &writer)
            } catch {
                // The client went away mid-stream: nobody reads the output, so the work is not worth finishing.
                _ = try? await queue.cancel(id: record.id, tenant: tenant)
                throw error
            }
            if Task.isCancelled { _ = try? await queue.cancel(id: record.id, tenant: tenant) }
            try await writer.finish(nil)
        })
    }

    private static func events(queue: RequestQueue, id: String, tenant: String, keepalive: Duration,
                               writer: inout any ResponseBodyWriter) async throws {
        var watch = queue.watch(id: id, tenant: tenant, partialOutputs: true)
        defer { watch.close() }
        var sent = 0
        var lastWrite = ContinuousClock.now
        var wait = Duration.zero
        while !Task.isCancelled {
            guard let record = try await watch.next(timeout: wait) else { return }
            // Partials first: on a terminal record, everything the function emitted before it ended is already kept.
            for partial in queue.partialOutputs(id: id, from: sent) {
                try await write(partial, to: &writer)
                sent += 1
                lastWrite = .now
            }
            if record.state.isTerminal {
                try await write(final(record), to: &writer)
                return
            }
            if keepalive - (ContinuousClock.now - lastWrite) <= .zero {
                try await writer.write(ByteBuffer(string: ": keepalive\n\n"))
                lastWrite = .now
            }
            wait = max(keepalive - (ContinuousClock.now - lastWrite), .milliseconds(10))
        }
    }

    /// The last event: the output, or the error envelope.
    private static func final(_ record: RequestRecord) -> JSONValue {
        if record.state == .succeeded, let body = record.result?.body, let output = try? JSONValue.parse(body) { return output }
        if record.state == .expired { return ErrorEnvelope("request_timeout", "Request timed out before it started").json }
        if let error = Completion(stored: record)?.error { return error.envelope.json }
        let (message, type) = record.failure ?? ("Request failed", "function_error")
        return ErrorEnvelope(type, message).json
    }

    private static func write(_ value: JSONValue, to writer: inout any ResponseBodyWriter) async throws {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(value.encoded())
        buffer.writeString("\n\n")
        try await writer.write(buffer)
    }
}
