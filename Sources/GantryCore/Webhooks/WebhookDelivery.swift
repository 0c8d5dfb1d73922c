import Foundation

/// The body shape a delivery is sent in.
public enum WebhookFormat: String, Sendable, CaseIterable {
    /// fal's `{"request_id", "gateway_request_id", "status", "payload", "error"}`.
    case fal
    /// Fooocus-API's `{"job_id", "job_result"}`.
    case fooocus
}

/// Where a delivery stands. A request submitted with a webhook gets its row at submit (`waiting`), in the same
/// transaction as the request; the request's terminal transition makes it `pending` in the same transaction as
/// that transition, so no crash can separate the two.
public enum WebhookDeliveryState: String, Sendable, CaseIterable {
    /// The request has not finished yet.
    case waiting
    /// Due at `nextAttemptAt` (or being attempted, while leased).
    case pending
    /// A receiver answered 2xx.
    case delivered
    /// Attempts exhausted, 410 Gone, or a destination the egress policy refuses.
    case failed
}

/// One webhook delivery of one request (the outbox row).
public struct WebhookDelivery: Sendable, Equatable {
    public var requestID: String
    /// The tenant that submitted the request: the signature's user id.
    public var tenant: String
    public var url: String
    /// The destination host name (lowercased), the key of the per-host concurrency limit.
    public var host: String
    public var format: WebhookFormat
    public var state: WebhookDeliveryState
    /// Attempts made so far.
    public var attempts: Int
    public var nextAttemptAt: Date?
    public var leaseOwner: String?
    public var leaseExpiresAt: Date?
    /// The HTTP status of the last attempt, when one was received.
    public var lastStatus: Int?
    public var lastError: String?
    public var createdAt: Date
    public var finishedAt: Date?

    public init(
        requestID: String, tenant: String, url: String, host: String? = nil, format: WebhookFormat = .fal,
        state: WebhookDeliveryState = .waiting, attempts: Int = 0, nextAttemptAt: Date? = nil, leaseOwner: String? = nil,
        leaseExpiresAt: Date? = nil, lastStatus: Int? = nil, lastError: String? = nil, createdAt: Date, finishedAt: Date? = nil
    ) {
        self.requestID = requestID
        self.tenant = tenant
        self.url = url
        self.host = host ?? Self.hostKey(for: url)
        self.format = format
        self.state = state
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.leaseOwner = leaseOwner
        self.leaseExpiresAt = leaseExpiresAt
        self.lastStatus = lastStatus
        self.lastError = lastError
        self.createdAt = createdAt
        self.finishedAt = finishedAt
    }

    /// The lowercased host name of a URL (empty when it has none): deliveries to one host share its limit.
    public static func hostKey(for url: String) -> String {
        URLComponents(string: url)?.host?.lowercased() ?? ""
    }
}

/// Parameters of `JobStore.webhookClaimDue`.
public struct WebhookClaimParams: Sendable {
    public var owner: String
    public var now: Date
    /// How long the claim holds (longer than an attempt's timeout); an expired claim is due again.
    public var leaseDuration: TimeInterval
    public var limit: Int
    /// Hosts whose deliveries are not claimed now (their concurrency limit is reached).
    public var excludingHosts: Set<String>

    public init(owner: String, now: Date, leaseDuration: TimeInterval, limit: Int, excludingHosts: Set<String> = []) {
        self.owner = owner
        self.now = now
        self.leaseDuration = leaseDuration
        self.limit = limit
        self.excludingHosts = excludingHosts
    }
}

/// Parameters of `JobStore.webhookRecordAttempt`.
public struct WebhookAttemptParams: Sendable {
    /// What the attempt decided.
    public enum Next: Sendable, Equatable {
        case delivered
        case retry(at: Date)
        case failed
    }

    public var requestID: String
    public var owner: String
    /// The number of this attempt (the stored `attempts` + 1); the update is guarded by it.
    public var attempt: Int
    public var next: Next
    public var status: Int?
    public var error: String?
    public var now: Date
    /// A line for the request's log, appended in the same transaction when the attempt is recorded (and not at
    /// all when the guard fails).
    public var log: LogEntry?

    public init(requestID: String, owner: String, attempt: Int, next: Next, status: Int?, error: String?, now: Date, log: LogEntry? = nil) {
        self.log = log
        self.requestID = requestID
        self.owner = owner
        self.attempt = attempt
        self.next = next
        self.status = status
        self.error = error
        self.now = now
    }
}

/// Parameters of `JobStore.webhookRelease`: gives claims back without counting an attempt.
public struct WebhookReleaseParams: Sendable {
    /// Only these deliveries; nil for every pending one.
    public var requestIDs: [String]?
    /// Only claims of this owner; nil for any owner (start-up of the single-process host).
    public var owner: String?

    public init(requestIDs: [String]? = nil, owner: String? = nil) {
        self.requestIDs = requestIDs
        self.owner = owner
    }
}
