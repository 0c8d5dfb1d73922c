import Foundation
import GantryCore
import HTTPTypes
import Hummingbird
import Imaging
import NIOCore

/// FooocusAPI 2.5's routes (mrhan1993/FooocusAPI, docs/fooocus.md §2.2) over the same queue, tenants, webhooks and
/// function translation as the Fooocus-API surface: `POST /v1/engine/generate/` (with or without the slash),
/// `GET /tasks`, `GET /tasks/{task_id}`, `POST /v1/engine/control`. A task is one request of a fal fooocus function;
/// its task id is the fal request id.
struct FooocusAPI25Surface: Sendable {
    /// The Fooocus-API surface whose queue side, bodies and catalog this one shares.
    let api: FooocusAPISurface
    let tasks: FooocusAPI25TaskIndex

    var jobs: FooocusAPIJobs { api.jobs }
    var records: FooocusAPI25Records { FooocusAPI25Records(responses: api.responses, tasks: tasks) }

    /// How a generate request is answered (§2.4), in FooocusAPI's priority order.
    enum ResponseMode: Equatable {
        /// `Accept: image/*`: the first image's bytes in that format (`image/png`, `jpeg`/`jpg`, `webp`; other image
        /// types → PNG).
        case image(ImageFormat)
        /// `stream_output`: server-sent progress events.
        case stream
        /// `async_process`: the placeholder record at once.
        case async
        /// The finished record.
        case sync

        /// FooocusAPI reads one media type from `Accept`: `image/<x>` selects the image answer; a list, `*/*`, other
        /// types or no header do not (where FooocusAPI fails on a missing header and on `image/jpg`).
        static func of(accept: String?, stream: Bool, async: Bool) -> ResponseMode {
            let type = accept?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
            let parts = type.split(separator: "/", omittingEmptySubsequences: false)
            if !type.contains(","), parts.count == 2, parts[0] == "image" {
                switch parts[1] {
                case "jpeg", "jpg": return .image(.jpeg)
                case "webp": return .image(.webp)
                default: return .image(.png)
                }
            }
            return stream ? .stream : async ? .async : .sync
        }
    }

    /// Registers the routes; call before the fal surface's catch-all.
    func register(on router: RouteTable) {
        // The router ignores a trailing slash, so this one route answers `/v1/engine/generate/` (FooocusAPI's path)
        // and `/v1/engine/generate` (which FooocusAPI redirects).
        router.post("/v1/engine/generate") { request, context in try await generate(request, context: context) }
        registerTaskRoutes(on: router)
    }

    /// A generate request: parse, translate, queue, then answer in the mode §2.4 selects.
    func generate(_ request: Request, context: GantryRequestContext) async throws -> Response {
        var parsed = try FooocusAPI25Request.parse(try await api.fields(request, spelling: .v2JSON), styles: api.catalog.styleSet)
        let mode = ResponseMode.of(accept: request.headers[.accept], stream: parsed.streamOutput, async: parsed.request.asyncProcess)
        if case .image = mode { parsed.request.imageNumber = 1 }
        let call = try parsed.translate()
        let record: RequestRecord
        switch try await jobs.submit(call, request: parsed.request, tenant: context.tenant) {
        case .queueFull:
            context.logger.notice("Fooocus queue full", metadata: ["bound": "\(jobs.queueSize)", "surface": "fooocusapi-2.5"])
            throw APIError(.tooManyRequests, "QUEUE_IS_FULL", "The Fooocus queue holds \(jobs.queueSize) tasks; try again later")
        case .accepted(let accepted):
            record = accepted
        }
        tasks.add(id: record.id, params: parsed.params, tenant: context.tenant)
        context.logger.info("submitted", metadata: ["request_id": "\(record.id)", "function": "\(record.functionID)", "surface": "fooocusapi-2.5"])
        let headers: HTTPFields = [.falRequestID: record.id]
        switch mode {
        case .async:
            return .json(FooocusAPI25Records.pending(taskID: record.id), headers: headers)
        case .stream:
            return FooocusAPI25Stream(queue: jobs.queue, records: records, call: call).response(id: record.id, tenant: context.tenant, headers: headers)
        case .image(let format):
            let done = try await jobs.finished(id: record.id, tenant: context.tenant)
            switch done.state {
            case .succeeded: return try await firstImage(done, as: format, headers: headers)
            // FooocusAPI answers 204 when a task has no image (a stopped one).
            case .cancelled: return Response(status: .noContent, headers: headers)
            default: throw Self.failure(done, call: call, headers: headers)
            }
        case .sync:
            let done = try await jobs.finished(id: record.id, tenant: context.tenant)
            switch done.state {
            case .succeeded, .cancelled: return .json(try await records.record(done), headers: headers)
            default: throw Self.failure(done, call: call, headers: headers)
            }
        }
    }

    /// A request that ended without images and without being stopped, as the error envelope: the function's own
    /// status and body with its `loc`s renamed to the request's fields (a 422 for bad input), else the failure.
    static func failure(_ record: RequestRecord, call: FalCall, headers: HTTPFields) -> APIError {
        if record.state == .expired {
            return APIError(.gatewayTimeout, "request_timeout", "Request timed out before it started", headers: headers)
        }
        var error = APIError(call.mapped(Completion(stored: record)?.error ?? .failed("Request failed")))
        error.headers = headers
        return error
    }

    /// The first output image in `format` (re-encoded when the task saved another one).
    private func firstImage(_ record: RequestRecord, as format: ImageFormat, headers: HTTPFields) async throws -> Response {
        guard let url = try await records.urls(of: record).first else { return Response(status: .noContent, headers: headers) }
        guard let file = try await api.responses.file(at: url) else {
            throw APIError(.internalServerError, "no_result", "The task's image is not in the file store", headers: headers)
        }
        guard let converted = await FileNegotiation.convert(file, to: format) else {
            throw APIError(.internalServerError, "encode_failed", "The task's image could not be encoded as \(format.rawValue)", headers: headers)
        }
        var fields = headers
        fields[.contentType] = converted.contentType
        return Response(status: .ok, headers: fields, body: .init(byteBuffer: ByteBuffer(data: converted.data)))
    }
}
