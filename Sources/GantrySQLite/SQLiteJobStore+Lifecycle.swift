import Foundation
import GantryCore
import GRDB

/// The state transitions. Each is one UPDATE whose WHERE clause names the state (and attempt) it expects, so a
/// writer that lost its lease meanwhile changes nothing; `changesCount` tells the caller whether it won.
extension SQLiteJobStore {
    public func requestClaim(_ params: RequestClaimParams) async throws -> RequestRecord? {
        let arguments: StatementArguments = [
            "now": params.now.unixSeconds, "owner": params.owner,
            "expires": params.now.addingTimeInterval(params.leaseDuration).unixSeconds,
            "function": params.functionID,
        ]
        return try await write { db in
            try db.cachedStatement(sql: Self.claimSQL).fetchFirst(arguments, as: RequestRecord.init(statement:))
        }
    }

    /// Overdue requests are skipped here and left for `requestExpireOverdue`, which ends them `expired`.
    static let claimSQL = """
        UPDATE requests
        SET state = 'running', attempt = attempt + 1, started_at = :now, lease_owner = :owner,
            lease_expires_at = :expires
        WHERE state = 'queued' AND seq = (
            SELECT seq FROM requests
            WHERE function_id = :function AND state = 'queued' AND (start_deadline IS NULL OR start_deadline >= :now)
            ORDER BY priority, seq LIMIT 1)
        RETURNING \(RequestRow.columns)
        """

    static let heartbeatSQL = """
        UPDATE requests SET lease_expires_at = ?
        WHERE id = ? AND state = 'running' AND attempt = ?
        RETURNING cancel_requested
        """

    public func requestHeartbeat(_ params: RequestHeartbeatParams) async throws -> HeartbeatOutcome {
        let arguments: StatementArguments = [params.leaseExpiresAt.unixSeconds, params.id, params.attempt]
        return try await write { db in
            let cancelRequested = try db.cachedStatement(sql: Self.heartbeatSQL).fetchFirst(arguments) { s in
                Bool.fromStatement(s, atUncheckedIndex: 0) ?? false
            }
            return cancelRequested.map { HeartbeatOutcome.renewed(cancelRequested: $0) } ?? .lost
        }
    }

    static let finishSQL = """
        UPDATE requests
        SET state = ?, result_status = ?, result_body = ?, error_message = ?, error_type = ?,
            inference_time = ?, finished_at = ?, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = ? AND state = 'running' AND attempt = ?
        """

    public func requestFinish(_ params: RequestFinishParams) async throws -> Bool {
        precondition(RequestState.running.canTransition(to: params.state) && params.state.isTerminal,
                     "requestFinish needs succeeded, failed or cancelled, not \(params.state)")
        let arguments: StatementArguments = [
            params.state.rawValue, params.result?.status, params.result?.body, params.errorMessage,
            params.errorType, params.inferenceTime, params.now.unixSeconds, params.id, params.attempt,
        ]
        return try await write { db in
            try db.cachedStatement(sql: Self.finishSQL).execute(arguments: arguments)
            return db.changesCount == 1
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
        WHERE id = ? AND state = 'running' AND attempt = ?
        """

    public func requestRelease(id: String, attempt: Int) async throws -> Bool {
        try await write { db in
            try db.cachedStatement(sql: Self.releaseSQL).execute(arguments: [id, attempt])
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
