import Foundation
import GantryCore
import HTTPTypes
import Hummingbird
import Imaging
import NIOCore

/// The runner protocol over HTTP, `/runners/v1/…` (`docs/runner-protocol.md`): parses each call, authenticates the
/// runner token and hands the typed call to the `RunnerGateway`; its refusals become the error envelope.
struct RunnerRoutes: Sendable {
    let gateway: RunnerGateway
    let auth: RunnerAuth
    let configuration: ServerConfiguration
    /// The base of the host's file URLs (a runner reads inputs under it through the protocol).
    let publicURL: PublicURL

    static let prefix = "/runners/v1"
    /// Register, claim and heartbeat bodies are small; a registration carries schemas.
    static let maxControlBytes = 8 << 20

    func register(on router: RouteTable) {
        let group = router.group(RouterPath(Self.prefix))
        group.post("register") { request, _ in try await guarded { try await register(request) } }
        group.post("claim") { request, _ in try await guarded { try await claim(request) } }
        group.post("heartbeat") { request, _ in try await guarded { try await heartbeat(request) } }
        group.post("results") { request, _ in try await guarded { try await results(request) } }
        group.get("runners") { request, _ in try listRunners(request) }
        group.delete("functions/**") { request, context in
            try await guarded {
                let id = context.parameters.getCatchAll().joined(separator: "/")
                try await gateway.unregister(token: try auth.token(request), functionID: id)
                return .json(.object(["id": .string(id), "unregistered": .bool(true)]))
            }
        }
        group.post("requests/:id/events") { request, context in try await guarded { try await events(request, id: context.id) } }
        group.post("requests/:id/files") { request, context in try await guarded { try await upload(request, id: context.id) } }
        group.get("requests/:id/files") { request, context in try await guarded { try await readInput(request, id: context.id) } }
        group.post("requests/:id/result") { request, context in try await guarded { try await result(request, id: context.id, failure: false) } }
        group.post("requests/:id/failure") { request, context in try await guarded { try await result(request, id: context.id, failure: true) } }
        group.post("requests/:id/release") { request, context in try await guarded { try await release(request, id: context.id) } }
    }

    /// Maps the gateway's refusals to the envelope.
    private func guarded(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as RunnerError {
            throw APIError(error)
        }
    }

    private func register(_ request: Request) async throws -> Response {
        let token = try auth.token(request)
        let body = try await RunnerJSON.read(request, maxBytes: Self.maxControlBytes)
        let registered = try await gateway.register(token: token, instance: try body.string("instance"), sdk: try body.optionalString("sdk"),
                                                    functions: try body.array("functions"))
        return .json(.object([
            "runner_id": .string(token.id), "instance": .string(try body.string("instance")), "public_url": .string(publicURL.string),
            "lease_seconds": .number(gateway.leaseSeconds), "heartbeat_seconds": .number(gateway.maxHeartbeatWait),
            "max_wait_seconds": .number(gateway.limits.maxClaimWait),
            "functions": .array(registered.map { .object(["id": .string($0.functionID), "changed": .bool($0.changed),
                                                          "replaces_builtin": .bool($0.replacesBuiltin)]) }),
        ]))
    }

    private func claim(_ request: Request) async throws -> Response {
        let token = try auth.token(request)
        let body = try await RunnerJSON.read(request, maxBytes: Self.maxControlBytes)
        let functions = try body.array("functions").enumerated().map { index, value in
            guard let id = value.stringValue else {
                throw APIError(.unprocessableContent, envelope: ErrorEnvelope(errorType: "string_type", detail: .issues([ValidationIssue(
                    loc: [.string("body"), .string("functions"), .number(Double(index))], msg: "Input should be a valid string", type: "string_type")])))
            }
            return id
        }
        let jobs = try await gateway.claim(token: token, instance: try body.string("instance"), functionIDs: functions,
                                           max: try body.integer("max", default: 1), wait: try body.number("wait_seconds", default: 0))
        // Inputs are spliced in as stored (canonical JSON), not parsed and encoded again.
        var bytes = Data(#"{"lease_seconds":"#.utf8) + JSONValue.number(gateway.leaseSeconds).encoded() + Data(#","jobs":["#.utf8)
        for (index, job) in jobs.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            let record = job.record
            var meta: [String: JSONValue] = [:]
            meta["request_id"] = .string(record.id)
            meta["function_id"] = .string(record.functionID)
            meta["attempt"] = .number(Double(record.attempt))
            meta["max_attempts"] = .number(Double(record.maxAttempts))
            meta["lease_token"] = .string(job.leaseToken)
            meta["lease_expires_at"] = Self.timestamp(record.leaseExpiresAt)
            meta["deadline"] = Self.timestamp(job.deadline)
            meta["start_deadline"] = Self.timestamp(record.startDeadline)
            meta["sync_mode"] = .bool(job.syncMode)
            bytes.append(JSONValue.object(meta).encoded().dropLast())
            bytes.append(contentsOf: #","input":"#.utf8)
            bytes.append(record.input.isEmpty ? Data("{}".utf8) : record.input)
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(contentsOf: "]}".utf8)
        return .json(data: bytes)
    }

    private func heartbeat(_ request: Request) async throws -> Response {
        let token = try auth.token(request)
        let body = try await RunnerJSON.read(request, maxBytes: Self.maxControlBytes)
        let inFlight: [(requestID: String, leaseToken: String, cancelling: Bool)] = try body.array("in_flight", required: false).enumerated().map { index, item in
            guard let id = item["request_id"]?.stringValue, let lease = item["lease_token"]?.stringValue else {
                throw APIError(.unprocessableContent, envelope: ErrorEnvelope(errorType: "missing", detail: .issues([ValidationIssue(
                    loc: [.string("body"), .string("in_flight"), .number(Double(index))], msg: "Each item needs request_id and lease_token strings", type: "missing")])))
            }
            return (id, lease, item["cancelling"]?.boolValue ?? false)
        }
        let answer = try await gateway.heartbeat(token: token, instance: try body.string("instance"), inFlight: inFlight,
                                                 wait: try body.number("wait_seconds", default: 0))
        return .json(.object(["cancel": .array(answer.cancel.map { .string($0) }), "lost": .array(answer.lost.map { .string($0) }),
                              "lease_seconds": .number(gateway.leaseSeconds)]))
    }

    private func events(_ request: Request, id: String) async throws -> Response {
        let token = try auth.token(request)
        let body = try await RunnerJSON.read(request, maxBytes: configuration.maxBodyBytes)
        let now = Date()
        let logs = try body.array("logs", required: false).enumerated().map { try LogEntry(runnerJSON: $1, index: $0, now: now) }
        let progress: Double? = body["progress"] == nil || body["progress"] == .null ? nil : try body.number("progress", default: 0)
        let cancelRequested = try await gateway.events(token: token, requestID: id, leaseToken: try body.string("lease_token"), logs: logs,
                                                       progress: progress, partialOutputs: try body.array("partial", required: false))
        return .json(.object(["cancel_requested": .bool(cancelRequested)]))
    }

    private func upload(_ request: Request, id: String) async throws -> Response {
        let token = try auth.token(request)
        guard let lease = request.headers[Self.leaseTokenHeader] else {
            throw APIError.field(["header", "x-gantry-lease-token"], "Field required", type: "missing")
        }
        guard let contentType = request.headers[.contentType]?.split(separator: ";").first.map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }),
              contentType.contains("/") else {
            throw APIError.field(["header", "content-type"], "Field required: the file's media type", type: "missing")
        }
        let data = Data(buffer: try await request.bodyUpTo(configuration.maxUploadBytes, what: "The file"))
        let header = try? ImageCodec.readHeader(data)
        let fileExtension = Self.fileExtension(name: request.headers[Self.fileNameHeader], contentType: contentType)
        let record = try await gateway.upload(token: token, requestID: id, leaseToken: lease, data: data, contentType: contentType,
                                              fileExtension: fileExtension, width: header?.width, height: header?.height)
        return .json(record.json)
    }

    private func readInput(_ request: Request, id: String) async throws -> Response {
        let token = try auth.token(request)
        guard let lease = request.headers[Self.leaseTokenHeader] else {
            throw APIError.field(["header", "x-gantry-lease-token"], "Field required", type: "missing")
        }
        guard let url = request.uri.queryParameters.get("url") else { throw APIError.field(["query", "url"], "Field required", type: "missing") }
        let file = try await gateway.readInput(token: token, requestID: id, leaseToken: lease, url: String(url))
        var headers = HTTPFields()
        headers[.contentType] = file.contentType
        headers[.contentLength] = String(file.data.count)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(data: file.data)))
    }

    private func result(_ request: Request, id: String, failure: Bool) async throws -> Response {
        let token = try auth.token(request)
        let body = try await RunnerJSON.read(request, maxBytes: configuration.maxBodyBytes)
        let outcome = try Self.outcome(body.object, failure: failure, loc: [])
        let completed = try await gateway.complete(token: token, requestID: id, leaseToken: try body.string("lease_token"), outcome: outcome)
        return .json(.object(["request_id": .string(id), "state": .string(completed.state.rawValue), "duplicate": .bool(completed.duplicate)]))
    }

    private func release(_ request: Request, id: String) async throws -> Response {
        let token = try auth.token(request)
        let body = try await RunnerJSON.read(request, maxBytes: Self.maxControlBytes)
        try await gateway.release(token: token, requestID: id, leaseToken: try body.string("lease_token"))
        return .json(.object(["request_id": .string(id), "state": .string(RequestState.queued.rawValue)]))
    }

    private func listRunners(_ request: Request) throws -> Response {
        guard auth.mayList(request) else { _ = try auth.token(request); return .json(.null) }
        return .json(.object(["runners": .array(gateway.instances().map { instance, connected in
            .object([
                "runner_id": .string(instance.runnerID), "instance": .string(instance.instance),
                "functions": .array(instance.functions.keys.sorted().map { .string($0) }),
                "capacity": .number(Double(instance.capacity)), "in_flight": .number(Double(instance.inFlight)),
                "last_seen": .string(FalSurface.timestamp(instance.lastSeen)), "connected": .bool(connected),
                "sdk": instance.sdk.map { .string($0) } ?? .null,
            ])
        })]))
    }

    /// An ISO 8601 instant, or null.
    static func timestamp(_ date: Date?) -> JSONValue {
        date.map { JSONValue.string(FalSurface.timestamp($0)) } ?? .null
    }

    static let leaseTokenHeader = HTTPField.Name("x-gantry-lease-token")!
    static let fileNameHeader = HTTPField.Name("x-gantry-file-name")!
}

extension GantryRequestContext {
    /// The `:id` path parameter of the request routes.
    var id: String { parameters.get("id") ?? "" }
}
