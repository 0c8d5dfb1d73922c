import Foundation
import GantryCore
import GRDB

/// The state transitions. Each is one UPDATE whose WHERE clause names the state (and attempt) it expects, so a
/// writer that lost its lease meanwhile changes nothing; `changesCount` tells the caller whether it won.
extension SQLiteJobStore {
    public func requestClaim(_ params: RequestClaimParams) async throws -> RequestRecord? {
        try await pool.write { db in
            try Row.fetchOne(db, sql: Self.claimSQL, arguments: [
                "now": params.now.unixSeconds, "owner": params.owner,
                "expires": params.now.addingTimeInterval(params.leaseDuration).unixSeconds,
                "function": params.functionID,
            ]).map(RequestRecord.init(row:))
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

    public func requestHeartbeat(_ params: RequestHeartbeatParams) async throws -> HeartbeatOutcome {
        try await pool.write { db in
            let cancelRequested = try Bool.fetchOne(
                db, sql: """
                    UPDATE requests SET lease_expires_at = ?
                    WHERE id = ? AND state = 'running' AND attempt = ?
                    RETURNING cancel_requested
                    """,
                arguments: [params.leaseExpiresAt.unixSeconds, params.id, params.attempt])
            return cancelRequested.map { HeartbeatOutcome.renewed(cancelRequested: $0) } ?? .lost
        }
    }

    public func requestFinish(_ params: RequestFinishParams) async throws -> Bool {
        precondition(RequestState.running.canTransition(to: params.state) && params.state.isTerminal,
                     "requestFinish needs succeeded, failed or cancelled, not \(params.state)")
        return try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE requests
                    SET state = ?, result_status = ?, result_body = ?, error_message = ?, error_type = ?,
                        inference_time = ?, finished_at = ?, lease_owner = NULL, lease_expires_at = NULL
                    WHERE id = ? AND state = 'running' AND attempt = ?
                    """,
                arguments: [
                    params.state.rawValue, params.result?.status, params.result?.body, params.errorMessage,
                    params.errorType, params.inferenceTime, params.now.unixSeconds, params.id, params.attempt,
                ])
            return db.changesCount == 1
        }
    }

    public func requestCancel(id: String, now: Date) async throws -> CancelOutcome {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE requests SET state = 'cancelled', finished_at = ? WHERE id = ? AND state = 'queued'",
                arguments: [now.unixSeconds, id])
            if db.changesCount == 1 { return .cancelled }
            try db.execute(
                sql: "UPDATE requests SET cancel_requested = 1 WHERE id = ? AND state = 'running'", arguments: [id])
            if db.changesCount == 1 { return .cancelRequested }
            let exists = try Bool.fetchOne(db, sql: "SELECT 1 FROM requests WHERE id = ?", arguments: [id]) != nil
            // Neither queued nor running, inside this one write transaction: the request is terminal.
            return exists ? .alreadyCompleted : .notFound
        }
    }

    public func requestRelease(id: String, attempt: Int) async throws -> Bool {
        try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE requests SET state = 'queued', attempt = attempt - 1, \(Self.forgetAttempt)
                    WHERE id = ? AND state = 'running' AND attempt = ?
                    """,
                arguments: [id, attempt])
            return db.changesCount == 1
        }
    }

    /// Going back to `queued` drops the lease and whatever the abandoned attempt reported.
    static let forgetAttempt = "lease_owner = NULL, lease_expires_at = NULL, started_at = NULL, progress = NULL"

    public func requestExpireOverdue(now: Date) async throws -> [String] {
        try await pool.write { db in
            try Row.fetchAll(
                db, sql: """
                    UPDATE requests SET state = 'expired', finished_at = :now
                    WHERE state = 'queued' AND start_deadline IS NOT NULL AND start_deadline < :now
                    RETURNING id, seq
                    """,
                arguments: ["now": now.unixSeconds]
            )
            .map { (id: $0["id"] as String, seq: $0["seq"] as Int64) }
            .sorted { $0.seq < $1.seq }
            .map(\.id)
        }
    }
}
