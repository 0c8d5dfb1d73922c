import Foundation
import GantryCore
import GRDB

/// The state transitions. Each is one UPDATE whose WHERE clause names the state (and attempt) it expects, so a
/// writer that lost its lease meanwhile changes nothing; `changesCount` tells the caller whether it won.
extension SQLiteJobStore {
    public func requestClaim(_ params: RequestClaimParams) async throws -> [RequestRecord] {
        guard params.limit > 0, !params.functionIDs.isEmpty else { return [] }
        let now = params.now.unixSeconds
        let expires = params.now.addingTimeInterval(params.leaseDuration).unixSeconds
        return try await write { db in
            // Each function's head of the queue comes from its own index range (function_id, priority, seq); the
            // heads are merged here, so a claim over several functions never sorts a deep queue.
            var candidates: [(priority: Int, seq: Int64)] = []
            for function in params.functionIDs {
                candidates += try db.cachedStatement(sql: Self.claimCandidatesSQL).fetchAll([function, now, params.limit]) { s in
                    (Int.fromStatement(s, atUncheckedIndex: 0) ?? 0, Int64.fromStatement(s, atUncheckedIndex: 1) ?? 0)
                }
            }
            let chosen = candidates.sorted { ($0.priority, $0.seq) < ($1.priority, $1.seq) }.prefix(params.limit)
            let claim = try db.cachedStatement(sql: Self.claimSQL)
            return try chosen.compactMap { candidate in
                try claim.fetchFirst(["now": now, "owner": params.owner, "expires": expires, "seq": candidate.seq],
                                     as: RequestRecord.init(statement:))
            }
        }
    }

    /// Overdue requests are skipped here and left for `requestExpireOverdue`, which ends them `expired`.
    static let claimCandidatesSQL = """
        SELECT priority, seq FROM requests
        WHERE function_id = ? AND state = 'queued' AND (start_deadline IS NULL OR start_deadline >= ?)
        ORDER BY priority, seq LIMIT ?
        """

    static let claimSQL = """
        UPDATE requests
        SET state = 'running', attempt = attempt + 1, started_at = :now, lease_owner = :owner,
            lease_expires_at = :expires
        WHERE seq = :seq AND state = 'queued'
        RETURNING \(RequestRow.columns)
        """

    /// The guard of every write about a running attempt: its fence.
    static let fenceClause = "id = :id AND state = 'running' AND attempt = :attempt AND lease_owner = :owner"

    static let heartbeatSQL = """
        UPDATE requests SET lease_expires_at = :expires WHERE \(fenceClause)
        RETURNING cancel_requested
        """

    public func requestHeartbeat(_ params: [RequestHeartbeatParams]) async throws -> [HeartbeatOutcome] {
        guard !params.isEmpty else { return [] }
        let items = params.map { ($0.fence, $0.leaseExpiresAt.unixSeconds) }
        return try await write { db in
            let statement = try db.cachedStatement(sql: Self.heartbeatSQL)
            return try items.map { fence, expires in
                var arguments = Self.fenceArguments(fence)
                arguments += ["expires": expires]
                let cancelRequested = try statement.fetchFirst(arguments) { s in Bool.fromStatement(s, atUncheckedIndex: 0) ?? false }
                return cancelRequested.map { HeartbeatOutcome.renewed(cancelRequested: $0) } ?? .lost
            }
        }
    }

    static func fenceArguments(_ fence: LeaseFence) -> StatementArguments {
        ["id": fence.requestID, "attempt": fence.attempt, "owner": fence.owner]
    }

    static let finishSQL = """
        UPDATE requests
        SET state = :state, result_status = :status, result_body = :body, error_message = :message,
            error_type = :type, inference_time = :inference, finished_at = :now, lease_owner = NULL,
            lease_expires_at = NULL
        WHERE \(fenceClause)
        RETURNING \(RequestRow.columns)
        """

    /// The one terminal UPDATE of a running attempt; the row comes back from the same statement.
    public func requestFinish(_ update: TerminalUpdate) async throws -> RequestRecord? {
        var fenced = Self.fenceArguments(update.fence)
        fenced += [
            "state": update.state.rawValue, "status": update.result.status, "body": update.result.body, "message": update.errorMessage,
            "type": update.errorType, "inference": update.inferenceTime, "now": update.now.unixSeconds,
        ]
        let arguments = fenced
        return try await write { db in
            try db.cachedStatement(sql: Self.finishSQL).fetchFirst(arguments, as: RequestRecord.init(statement:))
        }
    }

    static let cancelQueuedSQL = "UPDATE requests SET state = 'cancelled', finished_at = ? WHERE id = ? AND state = 'queued'"
    static let cancelRunningSQL = "UPDATE requests SET cancel_requested = 1 WHERE id = ? AND state = 'running'"

    public func requestCancel(id: String, now: Date) async throws -> CancelOutcome {
        let now = now.unixSeconds
        return try await write { db in
            try db.cachedStatement(sql: Self.cancelQueuedSQL).execute(arguments: [now, id])
            if db.changesCount == 1 { return .cancelled }
            try db.cachedStatement(sql: Self.cancelRunningSQL).execute(arguments: [id])
            if db.changesCount == 1 { return .cancelRequested }
            let exists = try Bool.fetchOne(db.cachedStatement(sql: Self.requestExistsSQL), arguments: [id]) != nil
            // Neither queued nor running, inside this one write transaction: the request is terminal.
            return exists ? .alreadyCompleted : .notFound
        }
    }

    static let releaseSQL = """
        UPDATE requests SET state = 'queued', attempt = attempt - 1, \(forgetAttempt)
        WHERE \(fenceClause) AND cancel_requested = 0
        """

    /// A released attempt whose request a client cancelled meanwhile ends the request instead.
    static let releaseCancelledSQL = """
        UPDATE requests
        SET state = 'cancelled', finished_at = :now, error_type = 'request_cancelled', error_message = 'Request was cancelled',
            lease_owner = NULL, lease_expires_at = NULL
        WHERE \(fenceClause) AND cancel_requested = 1
        """

    public func requestRelease(_ params: RequestReleaseParams) async throws -> Bool {
        let arguments = Self.fenceArguments(params.fence)
        var cancelled = arguments
        cancelled += ["now": params.now.unixSeconds]
        let cancelledArguments = cancelled
        return try await write { db in
            try db.cachedStatement(sql: Self.releaseSQL).execute(arguments: arguments)
            if db.changesCount == 1 { return true }
            try db.cachedStatement(sql: Self.releaseCancelledSQL).execute(arguments: cancelledArguments)
            return db.changesCount == 1
        }
    }

    /// Going back to `queued` drops the lease and whatever the abandoned attempt reported.
    static let forgetAttempt = "lease_owner = NULL, lease_expires_at = NULL, started_at = NULL, progress = NULL"

    static let expireSQL = """
        UPDATE requests SET state = 'expired', finished_at = :now
        WHERE state = 'queued' AND start_deadline IS NOT NULL AND start_deadline < :now
        RETURNING id, seq
        """

    public func requestExpireOverdue(now: Date) async throws -> [String] {
        let now = now.unixSeconds
        return try await write { db in
            try db.cachedStatement(sql: Self.expireSQL).fetchAll(["now": now]) { s in
                (id: String.fromStatement(s, atUncheckedIndex: 0) ?? "", seq: Int64.fromStatement(s, atUncheckedIndex: 1) ?? 0)
            }
            .sorted { $0.seq < $1.seq }
            .map(\.id)
        }
    }
}
