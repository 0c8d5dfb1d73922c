import Foundation

/// An error a function (or the runtime on its behalf) answers with: an HTTP status and the error envelope
/// (`error_type` and a `detail` that is a message or a list of field issues). Only the HTTP layer turns it into a
/// response.
public struct FunctionError: Error, Sendable, Equatable, CustomStringConvertible {
    public typealias Detail = ErrorEnvelope.Detail

    public var status: Int
    public var envelope: ErrorEnvelope
    /// Whether a later attempt could succeed. Input errors never are.
    public var retryable: Bool

    public init(status: Int, errorType: String, detail: Detail, retryable: Bool = false) {
        self.init(status: status, envelope: ErrorEnvelope(errorType: errorType, detail: detail), retryable: retryable)
    }

    public init(status: Int, envelope: ErrorEnvelope, retryable: Bool = false) {
        self.status = status
        self.envelope = envelope
        self.retryable = retryable
    }

    /// fal's `error_type`.
    public var errorType: String {
        get { envelope.errorType }
        set { envelope.errorType = newValue }
    }

    /// The envelope's detail: a message or field issues.
    public var detail: Detail {
        get { envelope.detail }
        set { envelope.detail = newValue }
    }

    /// A bad input field: 422 with a pydantic-style item naming the field (`loc = ["body", field…]`).
    public static func input(field: [String], code: String, message: String) -> FunctionError {
        input(loc: field.map { JSONValue.string($0) }, code: code, message: message)
    }

    /// A bad input field whose path may hold array indices (numbers).
    public static func input(loc: [JSONValue], code: String, message: String) -> FunctionError {
        FunctionError(status: 422, errorType: code, detail: .issues([ValidationIssue(loc: [.string("body")] + loc, msg: message, type: code)]))
    }

    /// Schema validation failed.
    public static func validation(_ failure: ValidationFailure) -> FunctionError {
        FunctionError(status: 422, errorType: "validation_error", detail: .issues(failure.issues))
    }

    /// The function failed for a reason of its own.
    public static func failed(_ message: String, errorType: String = "function_error", status: Int = 500) -> FunctionError {
        FunctionError(status: status, errorType: errorType, detail: .message(message))
    }

    /// A stored error result read back (its status and envelope); a body that is no envelope reads as a failure.
    public init(stored result: RequestResult) {
        self.init(status: result.status, envelope: ErrorEnvelope(parsing: result.body) ?? ErrorEnvelope("function_error", "Request failed"))
    }

    /// A one-line human summary, used for fal's `error` status field and logs.
    public var message: String { envelope.message }

    public var description: String { "\(status) \(errorType): \(message)" }

    /// The JSON body of the error envelope.
    public func body() -> Data { envelope.encoded() }
}
