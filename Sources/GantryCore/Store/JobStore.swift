import Foundation

/// Durable storage of requests, their logs and their lifecycle.
///
/// Every state change is one guarded update: it names the state (and, for running requests, the attempt) it expects
/// and changes nothing when the row moved on meanwhile. A worker whose lease was taken over therefore cannot
/// overwrite the outcome of the attempt that replaced it. All stores (in-memory, SQLite, later PostgreSQL) pass the
/// same conformance suite.
public protocol JobStore: Sendable {
    /// Inserts a new `queued` request. Durable when the call returns (the submit's 200 goes out after it).
    /// Also answers its queue position at that moment, without counting the requests ahead of it.
    /// Throws `StoreError.duplicate` when the id exists.
    func requestInsert(_ params: RequestInsertParams) async throws -> InsertedRequest

    /// The request with this id, or nil.
    func requestGet(id: String) async throws -> RequestRecord?

    /// The number of queued requests of the same function that will be claimed before this one
    /// (higher priority first, then FIFO); nil when the request is not queued.
    func requestQueuePosition(id: String) async throws -> Int?

    /// Claims up to `params.limit` claimable requests of the named functions: `queued`, start deadline not passed,
    /// best priority first, then oldest (across the functions). Each becomes `running` with `attempt + 1`,
    /// `startedAt` and the lease (`params.owner`, expiry). Returned in claim order; empty when none is claimable.
    func requestClaim(_ params: RequestClaimParams) async throws -> [RequestRecord]

    /// Renews the leases of running attempts (one outcome per item, in order) and reports requested cancels.
    /// An item whose fence no longer holds (not running with that attempt and owner) is `.lost`.
    func requestHeartbeat(_ params: [RequestHeartbeatParams]) async throws -> [HeartbeatOutcome]

    /// The one terminal transition of a running attempt (`running → succeeded | failed | cancelled`), only while
    /// `update.fence` holds. Returns the request as stored by this write (the same record `requestGet` reads back
    /// until it is pruned: a terminal request never changes), or nil when the fence no longer held (nothing
    /// changed). Callers use the typed `requestSetSucceeded` / `requestSetFailed` / `requestSetCancelled`, or this
    /// when they keep the record.
    func requestFinish(_ update: TerminalUpdate) async throws -> RequestRecord?

    /// Cancels a request: a queued one becomes `cancelled` at once; a running one gets `cancelRequested`.
    func requestCancel(id: String, now: Date) async throws -> CancelOutcome

    /// Puts a running attempt back to `queued` without counting it (graceful shutdown released it unfinished):
    /// `attempt - 1`, lease cleared; a request whose cancel was asked for meanwhile ends `cancelled` instead.
    /// Only while `params.fence` holds (false otherwise).
    func requestRelease(_ params: RequestReleaseParams) async throws -> Bool

    /// The running requests of the given functions, oldest first (the running set is small: at most the claims).
    func requestListRunning(functionIDs: [String]) async throws -> [RunningAttempt]

    /// Rescues running requests whose lease expired before `params.now` (or every running request when
    /// `params.includeUnexpiredLeases`, used at start-up of a single-process host): `cancelled` when a cancel was
    /// asked for, else back to `queued` when `attempt < maxAttempts`, else `failed` with
    /// `errorType = "runner_disconnected"`. Each row is guarded.
    func requestRescue(_ params: RequestRescueParams) async throws -> [RescueOutcome]

    /// Moves queued requests whose start deadline is before `now` to `expired`; returns their ids.
    func requestExpireOverdue(now: Date) async throws -> [String]

    /// Deletes terminal requests (and their logs) that finished before the given instant; returns how many.
    func requestPrune(finishedBefore: Date) async throws -> Int

    /// The number of requests in each state, per function id.
    func requestCounts() async throws -> [String: [RequestState: Int]]

    /// Records the progress fraction of a running attempt (ignored if the attempt is no longer running).
    func requestSetProgress(id: String, attempt: Int, progress: Double) async throws

    /// Appends log lines to a request, in order.
    func logAppend(requestID: String, entries: [LogEntry]) async throws

    /// The request's log lines in the order they were appended (at most `limit`, the oldest first).
    func logList(requestID: String, limit: Int) async throws -> [LogEntry]

    // MARK: Function registrations (runner functions persisted across restarts).

    /// Inserts or replaces a registration; true when the declaration is new or differs from the stored one.
    func functionRegistrationUpsert(_ registration: FunctionRegistration) async throws -> Bool

    /// Every registration, by function id.
    func functionRegistrationList() async throws -> [FunctionRegistration]

    /// Removes a registration; false when there was none.
    func functionRegistrationDelete(functionID: String) async throws -> Bool

    // MARK: Webhook outbox. `requestInsert` with a `webhookURL` adds the `waiting` row in the same transaction, and
    // every terminal transition makes it `pending` (due at `finishedAt`) in the transition's own transaction.

    /// Claims up to `params.limit` pending deliveries that are due and not claimed (or whose claim expired), the
    /// earliest due first, skipping the excluded hosts.
    func webhookClaimDue(_ params: WebhookClaimParams) async throws -> [WebhookDelivery]

    /// Records the outcome of a claimed attempt: only if the delivery is still pending with `attempt - 1` attempts
    /// and claimed by `params.owner`. Clears the claim. Returns false (changing nothing) otherwise.
    func webhookRecordAttempt(_ params: WebhookAttemptParams) async throws -> Bool

    /// Gives claims back without counting an attempt (shutdown, start-up, a host that filled up meanwhile).
    func webhookRelease(_ params: WebhookReleaseParams) async throws

    /// The delivery of a request, or nil.
    func webhookGet(requestID: String) async throws -> WebhookDelivery?

    /// The number of deliveries in each state.
    func webhookCounts() async throws -> [WebhookDeliveryState: Int]
}

extension JobStore {
    /// `running → succeeded` with the output, only while `params.fence` holds. False (nothing changed) otherwise.
    public func requestSetSucceeded(_ params: RequestSucceededParams) async throws -> Bool {
        try await requestFinish(TerminalUpdate(params)) != nil
    }

    /// `running → failed` with the error result, only while `params.fence` holds.
    public func requestSetFailed(_ params: RequestFailedParams) async throws -> Bool {
        try await requestFinish(TerminalUpdate(params)) != nil
    }

    /// `running → cancelled` (a requested cancel took effect), only while `params.fence` holds.
    public func requestSetCancelled(_ params: RequestCancelledParams) async throws -> Bool {
        try await requestFinish(TerminalUpdate(params)) != nil
    }
}

/// Parameters of `JobStore.requestInsert`.
public struct RequestInsertParams: Sendable {
    public var id: String
    public var tenant: String
    public var functionID: String
    public var input: Data
    public var priority: RequestPriority
    public var maxAttempts: Int
    public var createdAt: Date
    public var startDeadline: Date?
    public var webhookURL: String?
    /// The body shape of the webhook (fal's unless a Fooocus-API surface submitted it).
    public var webhookFormat: WebhookFormat
    /// When set and no queued request of the function would be claimed before this one, the request is stored
    /// already claimed by this claimant (attempt 1, leased from `createdAt`), as if `requestClaim` had taken it
    /// in the same transaction; otherwise it is queued as usual.
    public var claimIfFirst: DirectClaim?

    public init(
        id: String, tenant: String, functionID: String, input: Data, priority: RequestPriority = .normal,
        maxAttempts: Int, createdAt: Date, startDeadline: Date? = nil, webhookURL: String? = nil,
        webhookFormat: WebhookFormat = .fal
    ) {
        self.webhookFormat = webhookFormat
        self.id = id
        self.tenant = tenant
        self.functionID = functionID
        self.input = input
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.createdAt = createdAt
        self.startDeadline = startDeadline
        self.webhookURL = webhookURL
    }
}

/// Who claims a request at its insert (see `RequestInsertParams.claimIfFirst`).
public struct DirectClaim: Sendable {
    /// The lease owner.
    public var owner: String
    /// How long the lease lasts without a heartbeat.
    public var leaseDuration: TimeInterval

    public init(owner: String, leaseDuration: TimeInterval) {
        self.owner = owner
        self.leaseDuration = leaseDuration
    }
}

/// What `JobStore.requestCancel` did.
public enum CancelOutcome: Sendable, Equatable {
    /// The request was queued and is now `cancelled`.
    case cancelled
    /// The request is running; `cancelRequested` is set and the worker will stop it.
    case cancelRequested
    /// The request had already reached a terminal state.
    case alreadyCompleted
    case notFound
}

/// Parameters of `JobStore.requestRescue`.
public struct RequestRescueParams: Sendable {
    public var now: Date
    /// Rescue every running request, expired lease or not (only safe when no other process can hold a lease)…
    public var includeUnexpiredLeases: Bool
    /// …except leases whose owner starts with this prefix, which are rescued only once expired: runners are
    /// other processes and keep working (and heartbeating) while this host restarts.
    public var sparingOwnerPrefix: String?

    public init(now: Date, includeUnexpiredLeases: Bool = false, sparingOwnerPrefix: String? = nil) {
        self.now = now
        self.includeUnexpiredLeases = includeUnexpiredLeases
        self.sparingOwnerPrefix = sparingOwnerPrefix
    }

    /// Whether a running attempt with this lease is rescued by these parameters.
    public func rescues(owner: String?, leaseExpiresAt: Date?) -> Bool {
        if let expiry = leaseExpiresAt, expiry < now { return true }
        guard includeUnexpiredLeases else { return false }
        guard let prefix = sparingOwnerPrefix, let owner else { return true }
        return !owner.hasPrefix(prefix)
    }
}

/// One rescued request and the state it was moved to (`queued` or `failed`).
public struct RescueOutcome: Sendable, Equatable {
    public var id: String
    public var functionID: String
    public var state: RequestState

    public init(id: String, functionID: String, state: RequestState) {
        self.id = id
        self.functionID = functionID
        self.state = state
    }
}

/// Errors a store raises for its callers to handle (as opposed to I/O failures, which propagate as they are).
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Code: Sendable, Equatable { case duplicate, corrupt, unavailable }
    private let code: Code
    public let message: String

    /// A request with the same id exists.
    public static func duplicate(_ id: String) -> StoreError { .init(code: .duplicate, message: "request \(id) exists") }
    /// A stored row could not be read back (an unknown state, say).
    public static func corrupt(_ message: String) -> StoreError { .init(code: .corrupt, message: message) }
    /// The database did not answer in time (a shared store's server is down or unreachable).
    public static func unavailable(_ message: String) -> StoreError { .init(code: .unavailable, message: message) }

    public var description: String { message }
}

/// A stored submit.
public struct InsertedRequest: Sendable {
    /// The request as stored.
    public var record: RequestRecord
    /// Queued requests of its function that will be claimed before it, as of the insert (0 when it was claimed
    /// at its insert: then `record` is running).
    public var queuePosition: Int

    public init(record: RequestRecord, queuePosition: Int) {
        self.record = record
        self.queuePosition = queuePosition
    }
}
