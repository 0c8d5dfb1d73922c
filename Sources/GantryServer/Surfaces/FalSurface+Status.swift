import Foundation
import GantryCore
import HTTPTypes
import Hummingbird

extension FalSurface {
    /// `GET …/requests/{id}/status[?logs=1|0|true|false]`: 202 while queued or running, 200 once completed.
    func status(_ request: Request, context: GantryRequestContext, path: FalRoute.RequestPath) async throws -> Response {
        let withLogs = try Self.logsFlag(request)
        let record = try await load(path, tenant: context.tenant, current: true)
        let body = try await statusBody(record, namespace: path.namespace, withLogs: withLogs)
        return .json(body, status: record.state.isTerminal ? .ok : .accepted, headers: [.falRequestID: record.id])
    }

    static func logsFlag(_ request: Request) throws -> Bool {
        guard let raw = request.uri.queryParameters.get("logs") else { return false }
        switch raw.lowercased() {
        case "1", "true": return true
        case "0", "false", "": return false
        default: throw APIError.field(["query", "logs"], "logs must be 1, 0, true or false", type: "bool_parsing", status: .unprocessableContent)
        }
    }

    /// The status object of fal's protocol for a request.
    func statusBody(_ record: RequestRecord, namespace: Substring?, withLogs: Bool) async throws -> JSONValue {
        let links = urls(for: record, namespace: namespace)
        var body: [String: JSONValue] = [
            "status": .string(record.state.falStatus), "request_id": .string(record.id),
            "response_url": .string(links.response), "status_url": .string(links.status), "cancel_url": .string(links.cancel),
        ]
        if record.state == .queued {
            // A request can leave the queue between the two reads; it then counts as next in line.
            body["queue_position"] = .number(Double(try await queue.queuePosition(id: record.id) ?? 0))
            if withLogs && queue.waitsForRunner(record.functionID) {
                // Said, not stored: the moment a runner connects the line is gone.
                let line = LogEntry(message: "waiting for a runner: none serving \(record.functionID) is connected", level: .info,
                                    source: "GANTRY", timestamp: Date())
                body["logs"] = .array([Self.logJSON(line)])
            }
            return .object(body)
        }
        if withLogs {
            let entries = try await queue.logs(id: record.id)
            body["logs"] = .array(entries.map(Self.logJSON))
        } else {
            body["logs"] = .null
        }
        if let progress = record.progress, record.state == .running { body["progress"] = .number(progress) }
        if record.state.isTerminal {
            body["metrics"] = record.inferenceTime.map { .object(["inference_time": .number($0)]) } ?? .object([:])
            if let (message, type) = record.failure {
                body["error"] = .string(message)
                body["error_type"] = .string(type)
            }
        }
        return .object(body)
    }

    /// One log line in fal's shape.
    static func logJSON(_ entry: LogEntry) -> JSONValue {
        .object(["message": .string(entry.message), "level": .string(entry.level.rawValue), "source": .string(entry.source),
                 "timestamp": .string(timestamp(entry.timestamp))])
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    /// `GET …/requests/{id}`: replays the function's status code and body; cancelled and expired requests answer
    /// with an error body.
    func result(context: GantryRequestContext, path: FalRoute.RequestPath) async throws -> Response {
        let record = try await load(path, tenant: context.tenant)
        let headers: HTTPFields = [.falRequestID: record.id]
        switch record.state {
        case .queued, .running:
            throw APIError(.badRequest, "request_in_progress", "Request is still in progress", headers: headers)
        case .expired:
            throw APIError(.gatewayTimeout, "request_timeout", "Request timed out before it started", headers: headers + [.falRequestTimeoutType: "user"])
        case .cancelled:
            throw APIError(.badRequest, "request_cancelled", "Request was cancelled", headers: headers)
        case .succeeded, .failed:
            guard let result = record.result else {
                let (message, type) = record.failure ?? ("Request has no result", "internal_error")
                throw APIError(record.errorType == "runner_disconnected" ? .serviceUnavailable : .internalServerError, type, message, headers: headers)
            }
            var fields = headers
            if record.state == .failed, let type = record.errorType { fields[.falErrorType] = type }
            return .json(data: result.body, status: .init(code: result.status), headers: fields)
        }
    }
}
