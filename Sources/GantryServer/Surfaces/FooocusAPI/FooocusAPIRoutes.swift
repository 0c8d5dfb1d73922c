import Foundation
import GantryCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Fooocus-API's routes (mrhan1993/Fooocus-API 0.5, docs/fooocus.md §1.2) over the queue the fal surfaces use: a
/// generation request becomes one request of a fal fooocus function, its fal request id is its job id, and both
/// surfaces see it. Errors use the host's one envelope; input errors are 422s naming the Fooocus-API field.
struct FooocusAPISurface: Sendable {
    let jobs: FooocusAPIJobs
    let responses: FooocusAPIResponses
    let catalog: FooocusAPICatalog
    let maxBodyBytes: Int

    /// The generation routes: path, job kind, and how the body is spelled.
    static let generationRoutes: [(path: String, kind: FooocusAPIRequest.Kind, spelling: FooocusAPIRequest.Spelling)] = [
        ("/v1/generation/text-to-image", .textToImage, .v1JSON),
        ("/v1/generation/image-upscale-vary", .upscaleVary, .v1Form),
        ("/v1/generation/image-inpaint-outpaint", .inpaintOutpaint, .v1Form),
        ("/v1/generation/image-prompt", .imagePrompt, .v1Form),
        ("/v2/generation/text-to-image-with-ip", .textToImage, .v2JSON),
        ("/v2/generation/image-upscale-vary", .upscaleVary, .v2JSON),
        ("/v2/generation/image-inpaint-outpaint", .inpaintOutpaint, .v2JSON),
        ("/v2/generation/image-prompt", .imagePrompt, .v2JSON),
    ]

    /// Registers every route; call before the fal surface's catch-all.
    func register(on router: RouteTable) {
        for route in Self.generationRoutes {
            router.post(RouterPath(route.path)) { request, context in
                try await generate(request, context: context, kind: route.kind, spelling: route.spelling)
            }
        }
        for path in ["/v1/generation/image-enhance", "/v2/generation/image-enhance"] {
            router.post(RouterPath(path)) { _, _ -> Response in
                throw APIError.field(["body", "enhance_input_image"],
                                     "Image Enhancement needs mask models (SAM, GroundingDINO) and a diffusion engine; this host has neither",
                                     type: "capability_unavailable")
            }
        }
        registerJobRoutes(on: router)
        registerTools(on: router)
        catalog.register(on: router)
    }

    /// A generation request: parse, translate, queue; then answer as Fooocus-API does — the job at once
    /// (`async_process`), the first image as PNG (`Accept: image/png`, header or `?accept=`), or the result list.
    func generate(_ request: Request, context: GantryRequestContext, kind: FooocusAPIRequest.Kind,
                  spelling: FooocusAPIRequest.Spelling) async throws -> Response {
        let fields = try await fields(request, spelling: spelling)
        var parsed = try FooocusAPIRequest.parse(fields, kind: kind, spelling: spelling, styles: catalog.styleSet)
        let query = request.uri.queryParameters.get("accept").flatMap { $0.isEmpty ? nil : $0 }
        let accept = (query ?? request.headers[.accept])?.trimmingCharacters(in: .whitespaces).lowercased()
        let streaming = !parsed.asyncProcess && accept == "image/png"
        if streaming { parsed.imageNumber = 1 }
        let call = try FooocusAPITranslation.translate(parsed)
        let record: RequestRecord
        switch try await jobs.submit(call, request: parsed, tenant: context.tenant) {
        case .queueFull:
            context.logger.notice("Fooocus-API queue full", metadata: ["bound": "\(jobs.queueSize)"])
            if parsed.asyncProcess {
                return .json(FooocusAPIResponses.job(id: "", kind: kind.rawValue, stage: "ERROR",
                                                     result: .array([FooocusAPIResponses.item(reason: "QUEUE_IS_FULL")])))
            }
            if streaming { throw APIError(.conflict, "QUEUE_IS_FULL", "The Fooocus-API queue holds \(jobs.queueSize) jobs; try again later") }
            return .json(.array([FooocusAPIResponses.item(reason: "QUEUE_IS_FULL")]))
        case .accepted(let accepted):
            record = accepted
        }
        context.logger.info("submitted", metadata: ["request_id": "\(record.id)", "function": "\(record.functionID)", "surface": "fooocus-api"])
        let headers: HTTPFields = [.falRequestID: record.id]
        if parsed.asyncProcess {
            return .json(FooocusAPIResponses.job(id: record.id, kind: kind.rawValue, stage: "WAITING"), headers: headers)
        }
        let done = try await jobs.finished(id: record.id, tenant: context.tenant)
        switch done.state {
        case .succeeded:
            if streaming { return try await firstImageAsPNG(done, headers: headers) }
            return .json(.array(try await responses.items(of: done, requireBase64: parsed.requireBase64)), headers: headers)
        case .cancelled:
            if streaming { throw APIError(.badRequest, "USER_CANCEL", "The job was stopped", headers: headers) }
            return .json(.array([FooocusAPIResponses.item(reason: "USER_CANCEL")]), headers: headers)
        case .expired:
            throw APIError(.gatewayTimeout, "request_timeout", "Request timed out before it started", headers: headers)
        case .failed, .queued, .running:
            let error = call.mapped(Completion(stored: done)?.error ?? .failed("Request failed"))
            return .json(data: error.body(), status: .init(code: error.status), headers: headers + [.falErrorType: error.errorType])
        }
    }

    /// The first output image as PNG bytes (re-encoded when the job saved another format).
    private func firstImageAsPNG(_ record: RequestRecord, headers: HTTPFields) async throws -> Response {
        let first = try await responses.items(of: record, requireBase64: false).first?["url"]?.stringValue
        guard let url = first, let file = try await responses.file(at: url) else {
            throw APIError(.internalServerError, "no_result", "The job finished without an image", headers: headers)
        }
        guard let png = await FileNegotiation.convert(file, to: .png) else {
            throw APIError(.internalServerError, "encode_failed", "The job's image could not be re-encoded as PNG", headers: headers)
        }
        var fields = headers
        fields[.contentType] = "image/png"
        return Response(status: .ok, headers: fields, body: .init(byteBuffer: ByteBuffer(data: png.data)))
    }

    /// The request's fields: a multipart form for the v1 form routes, a JSON object otherwise.
    func fields(_ request: Request, spelling: FooocusAPIRequest.Spelling) async throws -> FooocusAPIFields {
        let data = try await body(request)
        let type = request.headers[.contentType] ?? ""
        if spelling == .v1Form {
            do {
                guard let boundary = try MultipartForm.boundary(contentType: type) else {
                    throw APIError(.unsupportedMediaType, "unsupported_media_type",
                                   "This route takes a multipart/form-data body (Fooocus-API's v1 form), not '\(type)'; its /v2 twin takes JSON")
                }
                return FooocusAPIFields(storage: .form(try MultipartForm.parse(data, boundary: boundary)))
            } catch let error as MultipartForm.FormatError {
                throw APIError.field(["body"], "Malformed multipart/form-data body: \(error.message)", type: "form_invalid", status: .badRequest)
            }
        }
        if data.isEmpty { return FooocusAPIFields(storage: .json([:])) }
        if !type.isEmpty, !InputReader.isJSON(type) {
            throw APIError(.unsupportedMediaType, "unsupported_media_type", "This route takes a JSON body, not '\(type)'")
        }
        guard let value = try? JSONValue.parse(data) else {
            throw APIError.field(["body"], "Body is not valid JSON", type: "json_invalid", status: .badRequest)
        }
        guard case .object(let object) = value else {
            throw APIError.field(["body"], "Input should be a valid dictionary (a JSON object)", type: "dict_type")
        }
        return FooocusAPIFields(storage: .json(object))
    }

    private func body(_ request: Request) async throws -> Data {
        Data(buffer: try await request.bodyUpTo(maxBodyBytes))
    }
}

/// What the Fooocus-API engine routes list: the style names (`<schemas>/fooocus/styles.tsv`, Fooocus 2.5.5's 279
/// names in `legal_style_names` order) and the model and LoRA files the fooocus functions accept by name.
struct FooocusAPICatalog: Sendable {
    let styles: [String]
    let styleSet: Set<String>
    /// Checkpoints a request may name (`refiner_model_name`); `base_model_name` is accepted and ignored.
    let modelFilenames: [String]
    let loraFilenames: [String]

    init(styles: [String], modelFilenames: [String], loraFilenames: [String]) {
        self.styles = styles
        self.styleSet = Set(styles)
        self.modelFilenames = modelFilenames
        self.loraFilenames = loraFilenames
    }

    /// Reads the style list from `<schemasDirectory>/fooocus/styles.tsv` (`index<TAB>name<TAB>source`, `#`
    /// comments) and the model names from the inpaint function's input schema (`refiner_model`'s choices, the
    /// default LoRA). Without the file the schema's `styles` enum, which holds the same names, is used.
    static func load(schemasDirectory: String, registry: FunctionRegistry, logger: Logger) -> FooocusAPICatalog {
        let schema = registry.function(id: FooocusAPITranslation.inpaint)?.inputSchema
        let properties = schema?["properties"]
        var styles: [String] = []
        let path = URL(fileURLWithPath: schemasDirectory).appendingPathComponent("fooocus/styles.tsv")
        if let text = try? String(contentsOf: path, encoding: .utf8) {
            styles = parseStyles(text)
        } else {
            styles = properties?["styles"]?["items"]?["enum"]?.arrayValue?.compactMap(\.stringValue) ?? []
            logger.notice("Fooocus-API styles: \(path.path) not readable; using the inpaint schema's list", metadata: ["count": "\(styles.count)"])
        }
        let models = properties?["refiner_model"]?["enum"]?.arrayValue?.compactMap(\.stringValue).filter { $0 != "None" } ?? []
        let loras = properties?["loras"]?["default"]?.arrayValue?.compactMap { $0["path"]?.stringValue }
            .map { String($0.split(separator: "/").last ?? Substring($0)) } ?? []
        return FooocusAPICatalog(styles: styles, modelFilenames: models, loraFilenames: loras)
    }

    /// The names of a styles TSV, in file order.
    static func parseStyles(_ text: String) -> [String] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            guard !line.hasPrefix("#") else { return nil }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            return fields.count >= 2 && !fields[1].isEmpty ? String(fields[1]) : nil
        }
    }

    /// `GET /ping`, `GET /v1/engines/styles`, `GET /v1/engines/all-models`.
    func register(on router: RouteTable) {
        router.get("/ping") { _, _ in Response.json(.string("pong")) }
        router.get("/v1/engines/styles") { _, _ in Response.json(.array(styles.map { .string($0) })) }
        router.get("/v1/engines/all-models") { _, _ in
            Response.json(.object(["model_filenames": .array(modelFilenames.map { .string($0) }),
                                   "lora_filenames": .array(loraFilenames.map { .string($0) })]))
        }
    }
}
