import Foundation
import Synchronization

/// The reference `JobStore`: every request in memory behind one lock. Used by tests and by hosts that accept
/// losing their queue on restart; its behaviour is what the conformance suite pins for the SQL stores.
public final class MemoryJobStore: JobStore {
    private let state = Mutex(Tables())

    /// An empty store.
    public init() {}

    /// Runs `body` under the store's lock (the extensions in other files go through here).
    func withTables<T>(_ body: (inout Tables) -> T) -> T {
        state.withLock { body(&$0) }
    }

    public func requestInsert(_ params: RequestInsertParams) async throws -> InsertedRequest {
        try state.withLock { tables in
            let record = try tables.insert(params)
            let position = tables.queuePosition(id: record.id) ?? 0
            if let claim = params.claimIfFirst, position == 0 {
                tables.claim(record.id, owner: claim.owner, now: params.createdAt, leaseDuration: claim.leaseDuration)
                return InsertedRequest(record: tables.rows[record.id]?.record ?? record, queuePosition: 0)
            }
            return InsertedRequest(record: record, queuePosition: position)
        }
    }

    public func requestGet(id: String) async throws -> RequestRecord? {
        state.withLock { $0.rows[id]?.record }
    }

    public func requestQueuePosition(id: String) async throws -> Int? {
        state.withLock { $0.queuePosition(id: id) }
    }

    public func requestRescue(_ params: RequestRescueParams) async throws -> [RescueOutcome] {
        state.withLock { $0.applyRescue($0.rescueCandidates(params), params) }
    }

    /// A running attempt seen by the first half of a rescue.
    struct RescueCandidate: Sendable, Equatable { var id: String, attempt: Int }

    /// First half of a rescue, split out so tests can interleave other writes before `applyRescue`.
    func rescueCandidates(_ params: RequestRescueParams) -> [RescueCandidate] {
        state.withLock { $0.rescueCandidates(params) }
    }

    /// Second half of a rescue: each candidate is re-checked, as a separate sweeper process would have to.
    func applyRescue(_ candidates: [RescueCandidate], _ params: RequestRescueParams) -> [RescueOutcome] {
        state.withLock { $0.applyRescue(candidates, params) }
    }

    public func requestExpireOverdue(now: Date) async throws -> [String] {
        state.withLock { tables in
            let overdue = tables.withDeadline
                .compactMap { id in tables.rows[id].map { (id, $0) } }
                .filter { _, row in row.record.startDeadline.map { $0 < now } ?? false }
                .sorted { $0.1.seq < $1.1.seq }
                .map(\.0)
            for id in overdue { tables.update(id, to: .expired) { $0.finishedAt = now } }
            return overdue
        }
    }

    public func requestPrune(finishedBefore: Date) async throws -> Int {
        state.withLock { tables in
            // A delivery still being attempted keeps its request (the webhook body is built from it).
            let doomed = tables.rows.values
                .filter { $0.record.state.isTerminal && ($0.record.finishedAt.map { $0 < finishedBefore } ?? false) }
                .filter { tables.deliveries[$0.record.id]?.state != .pending }
            for row in doomed {
                tables.deliveries[row.record.id] = nil
                tables.rows[row.record.id] = nil
                tables.ids[row.seq] = nil
                tables.logs[row.record.id] = nil
                tables.counts[row.record.functionID, default: [:]][row.record.state, default: 0] -= 1
            }
            return doomed.count
        }
    }

    public func requestCounts() async throws -> [String: [RequestState: Int]] {
        state.withLock { $0.counts.mapValues { $0.filter { $0.value > 0 } }.filter { !$0.value.isEmpty } }
    }

    public func requestSetProgress(id: String, attempt: Int, progress: Double) async throws {
        guard progress.isFinite else { return }
        state.withLock { tables in
            guard let row = tables.rows[id], row.isRunning(attempt: attempt) else { return }
            tables.rows[id]?.record.progress = min(max(progress, 0), 1)
        }
    }

    public func logAppend(requestID: String, entries: [LogEntry]) async throws {
        state.withLock { tables in
            // A late worker may log after retention pruned its request; those lines would never be deleted.
            guard tables.rows[requestID] != nil else { return }
            tables.logs[requestID, default: []].append(contentsOf: entries)
        }
    }

    public func logList(requestID: String, limit: Int) async throws -> [LogEntry] {
        state.withLock { tables in Array((tables.logs[requestID] ?? []).prefix(max(limit, 0))) }
    }
}

/// One stored request and its insertion number, which fixes its FIFO place for good (a rescued request goes
/// back to where it was, ahead of later submissions, as in the SQL stores' `seq` column).
struct Row {
    var record: RequestRecord
    var seq: Int

    func isRunning(attempt: Int) -> Bool { record.state == .running && record.attempt == attempt }

    /// Whether the row is still running under `fence`.
    func holds(_ fence: LeaseFence) -> Bool { fence.holds(for: record) }
}

/// The store's state; every method runs under the store's lock.
struct Tables {
    var rows: [String: Row] = [:]
    var logs: [String: [LogEntry]] = [:]
    var nextSeq = 1
    /// Queued requests per function and priority, ordered by `seq`.
    var queues: [String: [RequestPriority: SortedSeqs]] = [:]
    var ids: [Int: String] = [:]
    var running: Set<String> = []
    /// Queued requests that have a start deadline, the only ones `expireOverdue` must look at.
    var withDeadline: Set<String> = []
    var counts: [String: [RequestState: Int]] = [:]
    /// Runner function registrations, by function id.
    var registrations: [String: FunctionRegistration] = [:]
    /// The webhook outbox, by request id.
    var deliveries: [String: WebhookDelivery] = [:]
    /// Calls of `requestClaim`, for `claimCallCount`.
    var claimCalls = 0

    mutating func insert(_ params: RequestInsertParams) throws -> RequestRecord {
        guard rows[params.id] == nil else { throw StoreError.duplicate(params.id) }
        let record = RequestRecord(
            id: params.id, tenant: params.tenant, functionID: params.functionID, input: params.input,
            priority: params.priority, maxAttempts: params.maxAttempts, createdAt: params.createdAt,
            startDeadline: params.startDeadline, webhookURL: params.webhookURL)
        rows[params.id] = Row(record: record, seq: nextSeq)
        ids[nextSeq] = params.id
        nextSeq += 1
        counts[record.functionID, default: [:]][.queued, default: 0] += 1
        index(params.id)
        if let url = params.webhookURL {
            deliveries[params.id] = WebhookDelivery(requestID: params.id, tenant: params.tenant, url: url,
                                                    format: params.webhookFormat, createdAt: params.createdAt)
        }
        return record
    }

    func queuePosition(id: String) -> Int? {
        guard let row = rows[id], row.record.state == .queued,
              let queues = queues[row.record.functionID] else { return nil }
        let ahead = queues[row.record.priority]?.countBelow(row.seq) ?? 0
        return row.record.priority == .low ? ahead + (queues[.normal]?.count ?? 0) : ahead
    }

    mutating func claim(_ params: RequestClaimParams) -> [RequestRecord] {
        var claimed: [RequestRecord] = []
        while claimed.count < params.limit, let id = nextClaimable(params) {
            claim(id, owner: params.owner, now: params.now, leaseDuration: params.leaseDuration)
            if let record = rows[id]?.record { claimed.append(record) }
        }
        return claimed
    }

    /// Moves one queued request to its next attempt under `owner`'s lease.
    mutating func claim(_ id: String, owner: String, now: Date, leaseDuration: TimeInterval) {
        update(id, to: .running) { $0.claimFields(owner: owner, now: now, leaseDuration: leaseDuration) }
    }

    /// The queued request a claim takes next: best priority, then the lowest `seq` across the functions.
    /// Overdue requests stay queued until the expiry sweep; they are skipped, never claimed.
    private func nextClaimable(_ params: RequestClaimParams) -> String? {
        for priority in [RequestPriority.normal, .low] {
            let best = params.functionIDs.compactMap { function in
                queues[function]?[priority]?.first { seq in
                    guard let deadline = ids[seq].flatMap({ rows[$0] })?.record.startDeadline else { return true }
                    return deadline >= params.now
                }
            }.min()
            if let seq = best, let id = ids[seq] { return id }
        }
        return nil
    }

    func rescueCandidates(_ params: RequestRescueParams) -> [MemoryJobStore.RescueCandidate] {
        running.compactMap { rows[$0] }
            .filter { params.rescues(owner: $0.record.leaseOwner, leaseExpiresAt: $0.record.leaseExpiresAt) }
            .sorted { $0.seq < $1.seq }
            .map { MemoryJobStore.RescueCandidate(id: $0.record.id, attempt: $0.record.attempt) }
    }

    mutating func applyRescue(
        _ candidates: [MemoryJobStore.RescueCandidate], _ params: RequestRescueParams
    ) -> [RescueOutcome] {
        candidates.compactMap { candidate in
            // The attempt may have finished, been released or renewed its lease since it was read.
            guard let row = rows[candidate.id], row.isRunning(attempt: candidate.attempt),
                  params.rescues(owner: row.record.leaseOwner, leaseExpiresAt: row.record.leaseExpiresAt) else { return nil }
            if row.record.cancelRequested {
                update(candidate.id, to: .cancelled) { Tables.endCancelled(&$0, now: params.now) }
                return RescueOutcome(id: candidate.id, functionID: row.record.functionID, state: .cancelled)
            }
            let exhausted = row.record.attempt >= row.record.maxAttempts
            update(candidate.id, to: exhausted ? .failed : .queued) { record in
                guard exhausted else { return }
                record.finishedAt = params.now
                record.errorType = "runner_disconnected"
                record.errorMessage =
                    "the runner stopped renewing its lease (attempt \(record.attempt) of \(record.maxAttempts))"
            }
            let state: RequestState = exhausted ? .failed : .queued
            return RescueOutcome(id: candidate.id, functionID: row.record.functionID, state: state)
        }
    }

    /// What ending a request cancelled without its runner (release, rescue) writes, as the SQL stores do.
    static func endCancelled(_ record: inout RequestRecord, now: Date) {
        record.finishedAt = now
        record.errorType = "request_cancelled"
        record.errorMessage = "Request was cancelled"
    }

    /// Moves a request to `next`, keeping the indexes and counts in step. Leaving `running` always drops the
    /// lease; going back to `queued` also forgets what the abandoned attempt reported.
    mutating func update(_ id: String, to next: RequestState, _ change: (inout RequestRecord) -> Void = { _ in }) {
        guard var row = rows[id] else { return }
        let previous = row.record.state
        precondition(previous.canTransition(to: next), "illegal transition \(previous) → \(next)")
        unindex(id)
        change(&row.record)
        row.record.state = next
        if previous == .running {
            row.record.leaseOwner = nil
            row.record.leaseExpiresAt = nil
        }
        if next == .queued {
            row.record.startedAt = nil
            row.record.progress = nil
        }
        rows[id] = row
        // The outbox row becomes due in the same critical section as the terminal transition.
        if next.isTerminal, deliveries[id]?.state == .waiting {
            deliveries[id]?.state = .pending
            deliveries[id]?.nextAttemptAt = row.record.finishedAt
        }
        counts[row.record.functionID, default: [:]][previous, default: 0] -= 1
        counts[row.record.functionID, default: [:]][next, default: 0] += 1
        index(id)
    }

    private mutating func index(_ id: String) {
        guard let row = rows[id] else { return }
        switch row.record.state {
        case .queued:
            queues[row.record.functionID, default: [:]][row.record.priority, default: SortedSeqs()].insert(row.seq)
            if row.record.startDeadline != nil { withDeadline.insert(id) }
        case .running:
            running.insert(id)
        case .succeeded, .failed, .cancelled, .expired:
            break
        }
    }

    private mutating func unindex(_ id: String) {
        guard let row = rows[id] else { return }
        queues[row.record.functionID]?[row.record.priority]?.remove(row.seq)
        withDeadline.remove(id)
        running.remove(id)
    }
}

/// Ascending sequence numbers with cheap removal at the front (claims) and append at the back (submits);
/// removal or insertion elsewhere (cancel, rescue) shifts the tail, which stays fast for 100k plain integers.
struct SortedSeqs {
    private var storage: [Int] = []
    private var head = 0

    var count: Int { storage.count - head }

    /// The number of elements smaller than `seq`.
    func countBelow(_ seq: Int) -> Int { lowerBound(seq) - head }

    func first(where predicate: (Int) -> Bool) -> Int? { storage[head...].first(where: predicate) }

    mutating func insert(_ seq: Int) {
        // Submissions arrive in increasing order; only a re-queued request lands inside the array.
        storage.last.map { $0 < seq } ?? true ? storage.append(seq) : storage.insert(seq, at: lowerBound(seq))
    }

    mutating func remove(_ seq: Int) {
        let at = lowerBound(seq)
        guard at < storage.count, storage[at] == seq else { return }
        if at == head { head += 1 } else { storage.remove(at: at) }
        // Compact once the consumed prefix dominates, so memory follows the live queue.
        if head > 64 && head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
    }

    private func lowerBound(_ seq: Int) -> Int {
        var low = head, high = storage.count
        while low < high {
            let mid = (low + high) / 2
            if storage[mid] < seq { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
