import Foundation

/// The outcome of running a function once, however it was executed (in process or by a runner).
public enum RunOutcome: Sendable {
    case succeeded(Data)
    case failed(FunctionError)
    case stopped(StopReason)

    /// The completion this outcome ends a request with, or nil for stops that end nothing: a shutdown puts the
    /// request back in the queue and a lost lease leaves it to the attempt that replaced this one.
    /// - Parameter timeoutSeconds: the function's execution timeout, named in the timeout's message.
    public func completion(timeoutSeconds: Double) -> Completion? {
        switch self {
        case .succeeded(let body): .succeeded(body)
        case .failed(let error): .failed(error)
        case .stopped(.user): .cancelled
        case .stopped(.timeout): .failed(Completion.timeoutError(seconds: timeoutSeconds))
        case .stopped(.shutdown), .stopped(.leaseLost): nil
        }
    }
}

/// How a request ends, typed per terminal state of a run: what the store keeps, what the result route replays and
/// what a synchronous caller is answered — one mapping for every executor and surface.
public enum Completion: Sendable, Equatable {
    /// The function's output (status 200).
    case succeeded(Data)
    /// The function's (or the runtime's) error, with its status.
    case failed(FunctionError)
    /// A requested cancel took effect (400 `request_cancelled`).
    case cancelled

    /// The error a cancelled request answers with.
    public static let cancelledError = FunctionError(status: 400, errorType: "request_cancelled", detail: .message("Request was cancelled"))

    /// What a synchronous run answers when it was stopped without ending (the host is shutting down).
    public static let stoppedError = FunctionError(status: 503, errorType: "request_cancelled", detail: .message("Request was stopped before it finished"))

    /// The error of an attempt that ran past its execution timeout.
    public static func timeoutError(seconds: Double) -> FunctionError {
        FunctionError(status: 504, errorType: "request_timeout", detail: .message("Request timed out after \(Int(seconds)) s"))
    }

    /// The terminal state it stores.
    public var state: RequestState {
        switch self {
        case .succeeded: .succeeded
        case .failed: .failed
        case .cancelled: .cancelled
        }
    }

    /// The error, for completions that are not a success.
    public var error: FunctionError? {
        switch self {
        case .succeeded: nil
        case .failed(let error): error
        case .cancelled: Self.cancelledError
        }
    }

    /// The status and body the result route replays.
    public var result: RequestResult {
        switch self {
        case .succeeded(let body): RequestResult(status: 200, body: body)
        case .failed(let error): RequestResult(status: error.status, body: error.body())
        case .cancelled: RequestResult(status: Self.cancelledError.status, body: Self.cancelledError.body())
        }
    }

    /// The completion a stored terminal request ended with (nil for queued, running and expired requests).
    public init?(stored record: RequestRecord) {
        switch record.state {
        case .succeeded: self = .succeeded(record.result?.body ?? Data("null".utf8))
        case .failed:
            if let result = record.result {
                self = .failed(FunctionError(stored: result))
            } else {
                let (message, type) = record.failure ?? ("Request failed", "function_error")
                // Rescue gives up on a runner that kept disappearing: the runtime's failure, not the function's.
                let status = type == "runner_disconnected" ? 503 : 500
                self = .failed(FunctionError(status: status, errorType: type, detail: .message(message)))
            }
        case .cancelled: self = .cancelled
        case .queued, .running, .expired: return nil
        }
    }
}
