import Foundation

/// An error a function (or the runtime on its behalf) answers with: an HTTP status, fal's `error_type`, and a
/// `detail` that is either a message or a list of field issues. Only the HTTP layer turns it into a response,
/// through the one error envelope `{"detail": …, "error_type": …}`.
public struct FunctionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What `detail` carries.
    public enum Detail: Sendable, Equatable {
        case message(String)
        case issues([ValidationIssue])
    }

    public var status: Int
    public var errorType: String
    public var detail: Detail
    /// Whether a later attempt could succeed. Input errors never are.
    public var retryable: Bool

    public init(status: Int, errorType: String, detail: Detail, retryable: Bool = false) {
        self.status = status
        self.errorType = errorType
        self.detail = detail
        self.retryable = retryable
    }

    /// A bad input field: 422 with a pydantic-style item naming the field (`loc = ["body", field…]`).
    public static func input(field: [String], code: String, message: String) -> FunctionError {
        let loc: [JSONValue] = [.string("body")] + field.map { JSONValue.string($0) }
        return FunctionError(status: 422, errorType: code, detail: .issues([ValidationIssue(loc: loc, msg: message, type: code)]))
    }

    /// Schema validation failed.
    public static func validation(_ failure: ValidationFailure) -> FunctionError {
        FunctionError(status: 422, errorType: "validation_error", detail: .issues(failure.issues))
    }

    /// The function failed for a reason of its own.
    public static func failed(_ message: String, errorType: String = "function_error", status: Int = 500) -> FunctionError {
        FunctionError(status: status, errorType: errorType, detail: .message(message))
    }

    /// A one-line human summary, used for fal's `error` status field and logs.
    public var message: String {
        switch detail {
        case .message(let text): return text
        case .issues(let issues):
            return issues.map { issue in
                let path = issue.loc.dropFirst().map { $0.stringValue ?? $0.doubleValue.map { String(Int($0)) } ?? "?" }.joined(separator: ".")
                return path.isEmpty ? issue.msg : "\(path): \(issue.msg)"
            }.joined(separator: "; ")
        }
    }

    public var description: String { "\(status) \(errorType): \(message)" }

    /// The JSON body of the error envelope.
    public func body() -> Data {
        let detailValue: JSONValue = switch detail {
        case .message(let text): .string(text)
        case .issues(let issues): .array(issues.map { .object(["loc": .array($0.loc), "msg": .string($0.msg), "type": .string($0.type)]) })
        }
        return JSONValue.object(["detail": detailValue, "error_type": .string(errorType)]).encoded()
    }
}
