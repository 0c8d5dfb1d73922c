import Foundation

/// The stored outcome of a finished run: the function's HTTP status code and its JSON body, replayed by the
/// result route exactly as the run route would have answered.
public struct RequestResult: Sendable, Equatable {
    /// HTTP status code the function answered with (200 on success, 422 for invalid input, …).
    public var status: Int
    /// The JSON body, already encoded.
    public var body: Data

    public init(status: Int, body: Data) {
        self.status = status
        self.body = body
    }
}

/// One request as the store keeps it.
public struct RequestRecord: Sendable, Equatable {
    public var id: String
    /// The tenant (API-key id) that submitted the request; other tenants see it as unknown.
    public var tenant: String
    public var functionID: String
    /// The validated input JSON, defaults applied.
    public var input: Data
    public var state: RequestState
    public var priority: RequestPriority
    /// Number of times the request has been claimed; 0 while it has never run.
    public var attempt: Int
    public var maxAttempts: Int
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// `X-Fal-Request-Timeout`: a request still queued after this instant ends `expired`.
    public var startDeadline: Date?
    public var leaseOwner: String?
    public var leaseExpiresAt: Date?
    public var cancelRequested: Bool
    /// `?fal_webhook=` as submitted, delivered by the webhook outbox.
    public var webhookURL: String?
    public var result: RequestResult?
    public var errorMessage: String?
    public var errorType: String?
    /// Fraction in 0...1 reported by the running function.
    public var progress: Double?
    /// Seconds the successful attempt spent running.
    public var inferenceTime: Double?

    public init(
        id: String, tenant: String, functionID: String, input: Data, state: RequestState = .queued,
        priority: RequestPriority = .normal, attempt: Int = 0, maxAttempts: Int = 3, createdAt: Date,
        startedAt: Date? = nil, finishedAt: Date? = nil, startDeadline: Date? = nil, leaseOwner: String? = nil,
        leaseExpiresAt: Date? = nil, cancelRequested: Bool = false, webhookURL: String? = nil,
        result: RequestResult? = nil, errorMessage: String? = nil, errorType: String? = nil,
        progress: Double? = nil, inferenceTime: Double? = nil
    ) {
        self.id = id
        self.tenant = tenant
        self.functionID = functionID
        self.input = input
        self.state = state
        self.priority = priority
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.startDeadline = startDeadline
        self.leaseOwner = leaseOwner
        self.leaseExpiresAt = leaseExpiresAt
        self.cancelRequested = cancelRequested
        self.webhookURL = webhookURL
        self.result = result
        self.errorMessage = errorMessage
        self.errorType = errorType
        self.progress = progress
        self.inferenceTime = inferenceTime
    }
}

/// One log line of a request, in fal's shape.
public struct LogEntry: Sendable, Equatable, Codable {
    public enum Level: String, Sendable, Codable { case stdout = "STDOUT", stderr = "STDERR", info = "INFO", warn = "WARN", error = "ERROR", debug = "DEBUG" }
    public var message: String
    public var level: Level
    public var source: String
    public var timestamp: Date

    public init(message: String, level: Level = .info, source: String = "USER", timestamp: Date) {
        self.message = message
        self.level = level
        self.source = source
        self.timestamp = timestamp
    }
}

extension RequestRecord {
    /// The fields a claim sets on a queued request: its next attempt, started now, leased to `owner` (every store
    /// makes the state change itself).
    public mutating func claimFields(owner: String, now: Date, leaseDuration: TimeInterval) {
        attempt += 1
        startedAt = now
        leaseOwner = owner
        leaseExpiresAt = now.addingTimeInterval(leaseDuration)
    }
}
