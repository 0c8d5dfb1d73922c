import Foundation
import Signing
import GantryCore
import HTTPTypes
import Hummingbird

/// The one error shape every surface answers with: `{"detail": "…" | [{loc, msg, type}], "error_type": "…"}`,
/// plus `x-fal-request-id` when the error concerns a request. Nothing internal (SQL, paths, stacks) goes in it.
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    /// The body: `detail` and `error_type` (the one envelope of `GantryCore`).
    public var envelope: ErrorEnvelope
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ errorType: String, _ message: String, headers: HTTPFields = [:]) {
        self.init(status, envelope: ErrorEnvelope(errorType, message), headers: headers)
    }

    public init(_ status: HTTPResponse.Status, envelope: ErrorEnvelope, headers: HTTPFields = [:]) {
        self.status = status
        self.envelope = envelope
        self.headers = headers
    }

    /// An error carrying a function's own status and body.
    public init(_ error: FunctionError, requestID: String? = nil) {
        self.init(HTTPResponse.Status(code: error.status), envelope: error.envelope)
        if let requestID { headers[.falRequestID] = requestID }
    }

    /// A runner-protocol refusal.
    init(_ error: RunnerError) {
        self.init(HTTPResponse.Status(code: error.status), envelope: error.envelope)
    }

    /// A single field problem, pydantic-style.
    public static func field(_ loc: [String], _ message: String, type: String, status: HTTPResponse.Status = .unprocessableContent) -> APIError {
        APIError(status, envelope: ErrorEnvelope(errorType: type, detail: .issues([ValidationIssue(loc: loc.map { .string($0) }, msg: message, type: type)])))
    }

    /// fal's `error_type`.
    public var errorType: String { envelope.errorType }

    /// The envelope's `detail` as JSON.
    public var detail: JSONValue { envelope.json["detail"] ?? .null }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        fields[.falErrorType] = envelope.errorType
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(data: envelope.encoded())))
    }
}

extension HTTPField.Name {
    static let falRequestID = HTTPField.Name("x-fal-request-id")!
    static let falErrorType = HTTPField.Name("x-fal-error-type")!
    static let falRequestTimeout = HTTPField.Name("x-fal-request-timeout")!
    static let falRequestTimeoutType = HTTPField.Name("x-fal-request-timeout-type")!
    static let falQueuePriority = HTTPField.Name("x-fal-queue-priority")!
}

/// Turns every error a handler throws into the envelope: framework errors keep their status, anything unknown is a
/// 500 whose body says nothing internal (the details go to the log).
struct ErrorEnvelopeMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Tells a path that exists under other methods (405 with `Allow`) from one that does not (404).
    let methods: MethodIndex

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch var error as APIError {
            // fal clients treat a 5xx without x-fal-request-id as a gateway error and retry it; every error here
            // comes from the host itself, so it always carries one.
            if error.headers[.falRequestID] == nil { error.headers[.falRequestID] = UUID.secureRandom().lowercasedString }
            throw error
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = await methods.allowed(path: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method) else {
                throw APIError(.notFound, "not_found", "No route for \(request.method) \(request.uri.path)",
                               headers: [.falRequestID: UUID.secureRandom().lowercasedString])
            }
            throw APIError(.methodNotAllowed, "method_not_allowed", "\(request.method) is not allowed here; allowed: \(allowed.map(\.rawValue).joined(separator: ", "))",
                           headers: [.allow: allowed.map(\.rawValue).joined(separator: ", "), .falRequestID: UUID.secureRandom().lowercasedString])
        } catch let error as HTTPError {
            let type: String = switch error.status.code {
            case 404: "not_found"
            case 405: "method_not_allowed"
            case 413: "request_too_large"
            case 400: "bad_request"
            default: "http_error"
            }
            throw APIError(error.status, type, error.body ?? error.status.reasonPhrase, headers: error.headers + [.falRequestID: UUID.secureRandom().lowercasedString])
        } catch {
            // The HTTP parser failed inside the body a route was reading (broken chunking, a short body).
            if let malformed = MalformedRequest(error) {
                throw APIError(.init(code: malformed.status), envelope: malformed.envelope, headers: [.connection: "close"])
            }
            context.logger.error("unhandled error", metadata: ["error": "\(error)"])
            throw APIError(.internalServerError, "internal_error", "Internal server error", headers: [.falRequestID: UUID.secureRandom().lowercasedString])
        }
    }
}

extension Response {
    /// A JSON response.
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        json(data: value.encoded(), status: status, headers: headers)
    }

    /// A response with an already-encoded JSON body.
    static func json(data: Data, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(data: data)))
    }
}
