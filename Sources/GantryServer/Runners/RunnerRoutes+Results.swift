import Foundation
import GantryCore
import Hummingbird

extension RunnerRoutes {
    /// `POST /runners/v1/results`: many results and failures in one call, each answered as its single call would
    /// be. They are recorded concurrently, so the store commits them together.
    func results(_ request: Request) async throws -> Response {
        let token = try auth.token(request)
        let body = try await RunnerJSON.read(request, maxBytes: configuration.maxBodyBytes)
        let items = try body.array("results")
        guard items.count <= gateway.limits.maxInFlight else {
            throw APIError.field(["body", "results"], "List at most \(gateway.limits.maxInFlight) results", type: "too_long")
        }
        let answers = await withTaskGroup(of: (Int, JSONValue).self) { group in
            for (index, item) in items.enumerated() {
                group.addTask { (index, await self.resultItem(item, index: index, token: token)) }
            }
            var answers = [JSONValue](repeating: .null, count: items.count)
            for await (index, answer) in group { answers[index] = answer }
            return answers
        }
        return .json(.object(["results": .array(answers)]))
    }

    private func resultItem(_ item: JSONValue, index: Int, token: RunnerToken) async -> JSONValue {
        let id = item["request_id"]?.stringValue ?? ""
        do {
            guard case .object(let object) = item, !id.isEmpty, let lease = object["lease_token"]?.stringValue else {
                throw APIError.field(["body", "results", String(index)], "Each result needs request_id and lease_token strings", type: "missing")
            }
            let outcome = try Self.outcome(object, failure: object["error"] != nil && object["output"] == nil,
                                           loc: [.string("results"), .number(Double(index))])
            let completed = try await gateway.complete(token: token, requestID: id, leaseToken: lease, outcome: outcome)
            return .object(["request_id": .string(id), "status": .number(200), "state": .string(completed.state.rawValue),
                            "duplicate": .bool(completed.duplicate)])
        } catch let error as RunnerError {
            return .object(["request_id": .string(id), "status": .number(Double(error.status)), "error": error.envelope.json])
        } catch let error as APIError {
            return .object(["request_id": .string(id), "status": .number(Double(error.status.code)), "error": error.envelope.json])
        } catch {
            return .object(["request_id": .string(id), "status": .number(500), "error": ErrorEnvelope("internal_error", "Could not record the result").json])
        }
    }

    /// A result (`output`) or failure (`error: {message, error_type?, input_error?, loc?}`) as the gateway takes it.
    static func outcome(_ object: [String: JSONValue], failure: Bool, loc: [JSONValue]) throws -> RunnerGateway.Outcome {
        func bad(_ field: [JSONValue], _ message: String, _ type: String) -> APIError {
            APIError(.unprocessableContent, envelope: ErrorEnvelope(errorType: type, detail: .issues([ValidationIssue(
                loc: [.string("body")] + loc + field, msg: message, type: type)])))
        }
        if !failure {
            guard let output = object["output"] else { throw bad([.string("output")], "Field required: the output JSON", "missing") }
            return .output(output.encoded())
        }
        guard case .object(let error)? = object["error"] else { throw bad([.string("error")], "Field required: an object", "missing") }
        guard let message = error["message"]?.stringValue else {
            throw bad([.string("error"), .string("message")], "Field required: a string", "missing")
        }
        let type = error["error_type"]?.stringValue
        if let type, !type.isEmpty, !type.utf8.allSatisfy({ $0 == UInt8(ascii: "_") || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) }) || type.count > 64 {
            throw bad([.string("error"), .string("error_type")], "Must be 1–64 characters of a-z, 0-9 and _", "value_error")
        }
        let inputError = error["input_error"]?.boolValue ?? false
        let errorLoc = error["loc"]?.arrayValue?.filter { $0.stringValue != nil || $0.doubleValue != nil } ?? []
        // A message is cut so a runner cannot make every status read of the request heavy.
        let cut = message.utf8.count > 16_384 ? String(decoding: message.utf8.prefix(16_384), as: UTF8.self) + " …(cut)" : message
        return .failure(message: cut, errorType: type.flatMap { $0.isEmpty ? nil : $0 }, inputError: inputError, loc: errorLoc)
    }

    /// The extension an uploaded output is stored with: the given file name's, else one for its media type.
    static func fileExtension(name: String?, contentType: String) -> String {
        if let name, let dot = name.lastIndex(of: ".") {
            let candidate = name[name.index(after: dot)...].lowercased()
            if (1...8).contains(candidate.count), candidate.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) { return candidate }
        }
        switch contentType {
        case "image/png": return "png"
        case "image/jpeg", "image/jpg": return "jpg"
        case "image/webp": return "webp"
        case "image/gif": return "gif"
        case "application/json": return "json"
        case "text/plain": return "txt"
        case "audio/wav", "audio/x-wav": return "wav"
        case "audio/mpeg": return "mp3"
        case "video/mp4": return "mp4"
        default: return "bin"
        }
    }
}

extension ImageRecord {
    /// The record as fal's JSON (`width`/`height` only when known).
    var json: JSONValue {
        var object: [String: JSONValue] = [
            "url": .string(url), "content_type": .string(contentType), "file_name": .string(fileName), "file_size": .number(Double(fileSize)),
        ]
        if let width { object["width"] = .number(Double(width)) }
        if let height { object["height"] = .number(Double(height)) }
        return .object(object)
    }
}
