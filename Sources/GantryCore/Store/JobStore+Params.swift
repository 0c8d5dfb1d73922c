import Foundation

/// The fence of one claimed attempt: the request, the attempt number the claim gave it, and the lease owner.
/// Every write about a running attempt names its fence and changes nothing once the fence no longer holds (the
/// lease was rescued, the request finished or was released), so a late writer can never overwrite the attempt
/// that replaced it.
public struct LeaseFence: Sendable, Hashable {
    /// The request.
    public var requestID: String
    /// The attempt number the claim gave it.
    public var attempt: Int
    /// The lease owner: a host process, or `runner:<token id>:<instance>`.
    public var owner: String

    public init(requestID: String, attempt: Int, owner: String) {
        self.requestID = requestID
        self.attempt = attempt
        self.owner = owner
    }

    /// The fence of a record just claimed (nil when it is not running under a lease).
    public init?(_ record: RequestRecord) {
        guard record.state == .running, let owner = record.leaseOwner else { return nil }
        self.init(requestID: record.id, attempt: record.attempt, owner: owner)
    }

    /// Whether `record` is still running under this fence.
    public func holds(for record: RequestRecord) -> Bool {
        record.id == requestID && record.state == .running && record.attempt == attempt && record.leaseOwner == owner
    }
}

/// Parameters of `JobStore.requestClaim`.
public struct RequestClaimParams: Sendable {
    /// The functions to claim from (FIFO within priority across all of them).
    public var functionIDs: [String]
    /// Identifies the claimant and becomes the lease owner.
    public var owner: String
    /// The most requests to claim.
    public var limit: Int
    /// The claim's instant (start deadlines are checked against it; leases run from it).
    public var now: Date
    /// How long the leases last without a heartbeat.
    public var leaseDuration: TimeInterval

    public init(functionIDs: [String], owner: String, limit: Int = 1, now: Date, leaseDuration: TimeInterval) {
        self.functionIDs = functionIDs
        self.owner = owner
        self.limit = limit
        self.now = now
        self.leaseDuration = leaseDuration
    }

    /// One request of one function.
    public init(functionID: String, owner: String, now: Date, leaseDuration: TimeInterval) {
        self.init(functionIDs: [functionID], owner: owner, limit: 1, now: now, leaseDuration: leaseDuration)
    }
}

/// Parameters of `JobStore.requestHeartbeat` (one per attempt).
public struct RequestHeartbeatParams: Sendable {
    public var fence: LeaseFence
    public var leaseExpiresAt: Date

    public init(fence: LeaseFence, leaseExpiresAt: Date) {
        self.fence = fence
        self.leaseExpiresAt = leaseExpiresAt
    }
}

/// What a heartbeat found.
public enum HeartbeatOutcome: Sendable, Equatable {
    /// The lease was renewed; `cancelRequested` tells the worker to stop.
    case renewed(cancelRequested: Bool)
    /// The attempt is no longer running under this fence (rescued, cancelled or finished elsewhere).
    case lost
}

/// Parameters of `JobStore.requestSetSucceeded`.
public struct RequestSucceededParams: Sendable {
    public var fence: LeaseFence
    /// The output (status 200 and the JSON body).
    public var result: RequestResult
    /// Seconds the attempt ran.
    public var inferenceTime: Double?
    public var now: Date

    public init(fence: LeaseFence, result: RequestResult, inferenceTime: Double? = nil, now: Date) {
        self.fence = fence
        self.result = result
        self.inferenceTime = inferenceTime
        self.now = now
    }
}

/// Parameters of `JobStore.requestSetFailed`.
public struct RequestFailedParams: Sendable {
    public var fence: LeaseFence
    /// The error status and envelope the result route replays.
    public var result: RequestResult
    public var errorMessage: String
    public var errorType: String
    public var inferenceTime: Double?
    public var now: Date

    public init(fence: LeaseFence, result: RequestResult, errorMessage: String, errorType: String, inferenceTime: Double? = nil, now: Date) {
        self.fence = fence
        self.result = result
        self.errorMessage = errorMessage
        self.errorType = errorType
        self.inferenceTime = inferenceTime
        self.now = now
    }
}

/// Parameters of `JobStore.requestSetCancelled`.
public struct RequestCancelledParams: Sendable {
    public var fence: LeaseFence
    /// The cancellation's error body.
    public var result: RequestResult
    public var inferenceTime: Double?
    public var now: Date

    public init(fence: LeaseFence, result: RequestResult, inferenceTime: Double? = nil, now: Date) {
        self.fence = fence
        self.result = result
        self.inferenceTime = inferenceTime
        self.now = now
    }
}

/// Parameters of `JobStore.requestRelease`.
public struct RequestReleaseParams: Sendable {
    public var fence: LeaseFence
    /// When the request ends, if a cancel was asked for meanwhile (it is cancelled rather than requeued).
    public var now: Date

    public init(fence: LeaseFence, now: Date = Date()) {
        self.fence = fence
        self.now = now
    }
}

/// A runner function's declaration as the store keeps it: the declaration JSON as registered (id, schemas,
/// limits; see `RunnerFunctionDeclaration`), which token registered it, and when.
public struct FunctionRegistration: Sendable, Equatable {
    public var functionID: String
    /// Canonical JSON (keys sorted), so an unchanged declaration compares equal byte for byte.
    public var declaration: Data
    /// The runner token id that registered it last.
    public var registeredBy: String
    public var updatedAt: Date

    public init(functionID: String, declaration: Data, registeredBy: String, updatedAt: Date) {
        self.functionID = functionID
        self.declaration = declaration
        self.registeredBy = registeredBy
        self.updatedAt = updatedAt
    }
}

/// A running attempt as `JobStore.requestListRunning` lists it: who holds it and since when, without the input
/// and result bodies (a list read every sweep must not carry megabytes of images).
public struct RunningAttempt: Sendable, Equatable {
    /// The request id.
    public var id: String
    /// The tenant that submitted it.
    public var tenant: String
    public var functionID: String
    /// The running attempt's number.
    public var attempt: Int
    /// Who holds the lease.
    public var leaseOwner: String?
    /// When the attempt was claimed.
    public var startedAt: Date?
    /// Whether a client asked to cancel it.
    public var cancelRequested: Bool

    public init(id: String, tenant: String, functionID: String, attempt: Int, leaseOwner: String?, startedAt: Date?, cancelRequested: Bool) {
        self.id = id
        self.tenant = tenant
        self.functionID = functionID
        self.attempt = attempt
        self.leaseOwner = leaseOwner
        self.startedAt = startedAt
        self.cancelRequested = cancelRequested
    }

    /// The attempt's fence, when it is leased.
    public var fence: LeaseFence? {
        leaseOwner.map { LeaseFence(requestID: id, attempt: attempt, owner: $0) }
    }
}

/// The one terminal write of a running attempt (`JobStore.requestFinish`), as each typed transition describes it:
/// `requestSetSucceeded`, `requestSetFailed` and `requestSetCancelled` all become this one fenced update.
public struct TerminalUpdate: Sendable {
    public let fence: LeaseFence
    public let state: RequestState
    public let result: RequestResult
    public let errorMessage: String?
    public let errorType: String?
    public let inferenceTime: Double?
    public let now: Date

    public init(_ params: RequestSucceededParams) {
        (fence, state, result, errorMessage, errorType, inferenceTime, now) =
            (params.fence, .succeeded, params.result, nil, nil, params.inferenceTime, params.now)
    }

    public init(_ params: RequestFailedParams) {
        (fence, state, result, errorMessage, errorType, inferenceTime, now) =
            (params.fence, .failed, params.result, params.errorMessage, params.errorType, params.inferenceTime, params.now)
    }

    /// A cancel ends with fal's cancel error.
    public init(_ params: RequestCancelledParams) {
        (fence, state, result, errorMessage, errorType, inferenceTime, now) =
            (params.fence, .cancelled, params.result, "Request was cancelled", "request_cancelled", params.inferenceTime, params.now)
    }
}

/// A running attempt seen by the first half of a lease rescue (the SQL stores read candidates, then move each with a
/// guarded update).
public struct RescueCandidate: Sendable, Equatable {
    public var id: String
    public var functionID: String
    public var attempt: Int
    public var maxAttempts: Int

    public init(id: String, functionID: String, attempt: Int, maxAttempts: Int) {
        self.id = id
        self.functionID = functionID
        self.attempt = attempt
        self.maxAttempts = maxAttempts
    }
}
