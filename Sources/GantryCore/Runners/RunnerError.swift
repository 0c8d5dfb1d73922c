import Foundation

/// Why the runner protocol refused a call: a status and the error envelope. Only the HTTP layer writes it out.
public struct RunnerError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    public let envelope: ErrorEnvelope

    init(_ status: Int, _ errorType: String, _ message: String) {
        self.status = status
        self.envelope = ErrorEnvelope(errorType, message)
    }

    init(status: Int, envelope: ErrorEnvelope) {
        self.status = status
        self.envelope = envelope
    }

    /// The token may not serve this function (403).
    static func forbidden(_ functionID: String) -> RunnerError {
        RunnerError(403, "forbidden", "This runner token may not serve \(functionID)")
    }

    /// No such function is registered for runners (404).
    static func functionNotFound(_ functionID: String) -> RunnerError {
        RunnerError(404, "function_not_found", "No runner function \(functionID) is registered; register it first")
    }

    /// No such request (404).
    static func requestNotFound(_ id: String) -> RunnerError {
        RunnerError(404, "request_not_found", "Request \(id) not found")
    }

    /// The lease named by the token is no longer this instance's (409).
    static func leaseLost(_ id: String) -> RunnerError {
        RunnerError(409, "lease_lost", "This runner no longer holds request \(id) (its lease expired and was taken over, or the request ended)")
    }

    /// A malformed lease token (422).
    static func badLeaseToken() -> RunnerError {
        field([.string("lease_token")], "Not a lease token this host handed out", type: "value_error")
    }

    /// A field of the call is wrong (422 naming it).
    static func field(_ loc: [JSONValue], _ message: String, type: String) -> RunnerError {
        RunnerError(status: 422, envelope: ErrorEnvelope(errorType: type, detail: .issues([ValidationIssue(loc: [.string("body")] + loc, msg: message, type: type)])))
    }

    public var description: String { "\(status) \(envelope.errorType): \(envelope.message)" }
}
