import Foundation
import GantryCore
import HTTPTypes
import Hummingbird
import Logging

/// fal's queue and run protocol: submit, status (and its stream), result, cancel, and synchronous runs.
struct FalSurface: Sendable {
    let queue: RequestQueue
    let configuration: ServerConfiguration
    let publicURL: PublicURL
    let webhookCheck: WebhookURLCheck

    /// Answers a request that `FalRoute` recognised; unknown paths get the 404 envelope.
    func handle(_ request: Request, context: GantryRequestContext) async throws -> Response {
        guard let route = FalRoute.parse(method: request.method, path: request.uri.path, host: request.head.authority,
                                         queuePrefix: configuration.queuePrefix, runPrefix: configuration.runPrefix) else {
            throw APIError(.notFound, "not_found", "No route for \(request.method) \(request.uri.path)")
        }
        switch route {
        case .submit(let app, let namespace): return try await submit(request, context: context, app: app, namespace: namespace)
        case .run(let app, _): return try await run(request, context: context, app: app)
        case .stream(let app, _): return try await FalOutputStream(surface: self).stream(request, context: context, app: app)
        case .status(let path, false): return try await status(request, context: context, path: path)
        case .status(let path, true): return try await FalStatusStream(surface: self).stream(request, context: context, path: path)
        case .result(let path): return try await result(context: context, path: path)
        case .cancel(let path): return try await cancel(context: context, path: path)
        }
    }

    func function(for app: [Substring]) throws -> RegisteredFunction {
        guard let (function, rest) = queue.resolve(segments: app), rest.isEmpty else {
            throw APIError(.notFound, "function_not_found", "No function named \(app.joined(separator: "/"))")
        }
        return function
    }

    /// The queue URLs of a request, as fal returns them.
    func urls(for record: RequestRecord, namespace: Substring?) -> (response: String, status: String, cancel: String) {
        let owner = record.functionID.split(separator: "/").prefix(2).joined(separator: "/")
        let ns = namespace.map { "\($0)/" } ?? ""
        let base = "\(publicURL.string)\(configuration.queuePrefix)/\(ns)\(owner)/requests/\(record.id)"
        return (base, base + "/status", base + "/cancel")
    }

    private func submit(_ request: Request, context: GantryRequestContext, app: [Substring], namespace: Substring?) async throws -> Response {
        let function = try function(for: app)
        let admitted = try await InputReader.read(request, function: function, queue: queue, maxBytes: configuration.maxBodyBytes)
        let startTimeout = try Self.startTimeout(request)
        let webhook = request.uri.queryParameters.get("fal_webhook")
        if let webhook { try await webhookCheck.check(webhook, field: ["query", "fal_webhook"]) }
        let submitted = try await queue.submit(.init(admitted, tenant: context.tenant,
                                                     priority: RequestPriority(header: request.headers[.falQueuePriority]),
                                                     startTimeout: startTimeout, webhookURL: webhook))
        let (record, position) = (submitted.record, submitted.queuePosition)
        let links = urls(for: record, namespace: namespace)
        context.logger.debug("submitted", metadata: ["request_id": "\(record.id)", "function": "\(function.id)"])
        return .json(.object([
            "request_id": .string(record.id), "gateway_request_id": .string(record.id), "status": .string("IN_QUEUE"),
            "response_url": .string(links.response), "status_url": .string(links.status), "cancel_url": .string(links.cancel),
            "queue_position": .number(Double(position)),
        ]), headers: [.falRequestID: record.id])
    }

    /// `X-Fal-Request-Timeout`: seconds a request may wait before it starts.
    static func startTimeout(_ request: Request) throws -> Double? {
        guard let raw = request.headers[.falRequestTimeout] else { return nil }
        guard let seconds = Double(raw.trimmingCharacters(in: .whitespaces)), seconds > 0, seconds.isFinite else {
            throw APIError.field(["header", "x-fal-request-timeout"], "Must be a positive number of seconds", type: "value_error", status: .badRequest)
        }
        return seconds
    }

    private func run(_ request: Request, context: GantryRequestContext, app: [Substring]) async throws -> Response {
        let function = try function(for: app)
        let admitted = try await InputReader.read(request, function: function, queue: queue, maxBytes: configuration.maxBodyBytes)
        let answer = await queue.run(admitted, tenant: context.tenant, startTimeout: try Self.startTimeout(request))
        return Self.response(answer.completion, requestID: answer.requestID)
    }

    /// The HTTP answer of a completion: the output, or the error envelope with its status and `x-fal-error-type`.
    static func response(_ completion: Completion, requestID: String) -> Response {
        let headers: HTTPFields = [.falRequestID: requestID]
        switch completion {
        case .succeeded(let body): return .json(data: body, headers: headers)
        case .failed, .cancelled:
            let error = completion.error!
            return .json(data: error.body(), status: .init(code: error.status), headers: headers + [.falErrorType: error.errorType])
        }
    }

    /// Loads a request of this tenant that belongs to the app named in the path, or throws fal's 404.
    /// The request of `path` for `tenant` (404 otherwise); `current` waits for an outcome this process is storing
    /// (`RequestQueue.current`), as status polls do.
    func load(_ path: FalRoute.RequestPath, tenant: String, current: Bool = false) async throws -> RequestRecord {
        let id = String(path.id)
        guard let record = try await current ? queue.current(id: id, tenant: tenant) : queue.get(id: id, tenant: tenant),
              record.functionID == path.appPrefix || record.functionID.hasPrefix(path.appPrefix + "/") else {
            throw APIError(.notFound, "request_not_found", "Request not found", headers: [.falRequestID: String(path.id)])
        }
        return record
    }

    private func cancel(context: GantryRequestContext, path: FalRoute.RequestPath) async throws -> Response {
        let headers: HTTPFields = [.falRequestID: String(path.id)]
        guard (try? await load(path, tenant: context.tenant)) != nil else {
            return .json(.object(["status": .string("NOT_FOUND")]), status: .notFound, headers: headers)
        }
        switch try await queue.cancel(id: String(path.id), tenant: context.tenant) {
        case .cancelled, .cancelRequested: return .json(.object(["status": .string("CANCELLATION_REQUESTED")]), status: .accepted, headers: headers)
        case .alreadyCompleted: return .json(.object(["status": .string("ALREADY_COMPLETED")]), status: .badRequest, headers: headers)
        case .notFound: return .json(.object(["status": .string("NOT_FOUND")]), status: .notFound, headers: headers)
        }
    }
}

extension HTTPFields {
    static func + (lhs: HTTPFields, rhs: HTTPFields) -> HTTPFields {
        var merged = lhs
        merged.append(contentsOf: rhs)
        return merged
    }
}
