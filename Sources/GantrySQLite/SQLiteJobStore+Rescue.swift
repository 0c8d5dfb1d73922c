import Foundation
import GantryCore
import GRDB

/// Lease rescue: running attempts whose lease expired go back to `queued`, or end `failed` once their
/// attempts are used up.
///
/// Rescue reads its candidates, then updates them one by one. Between the two, the attempt may finish, be
/// released, or renew its lease (its worker was slow, not dead), so every UPDATE re-checks state, attempt and
/// expiry; a candidate that moved on is skipped rather than overwritten. `requestRescue` runs both halves in one
/// write transaction; they are separate methods so tests can interleave writes, as another process could.
extension SQLiteJobStore {
    public func requestRescue(_ params: RequestRescueParams) async throws -> [RescueOutcome] {
        try await write { db in
            try Self.applyRescue(db, Self.rescueCandidates(db, params), params)
        }
    }

    /// First half of a rescue, in its own transaction.
    func rescueCandidates(_ params: RequestRescueParams) async throws -> [RescueCandidate] {
        try await pool.unsafeRead { db in try Self.rescueCandidates(db, params) }
    }

    /// Second half of a rescue, in its own transaction.
    func applyRescue(_ candidates: [RescueCandidate], _ params: RequestRescueParams) async throws -> [RescueOutcome] {
        try await write { db in try Self.applyRescue(db, candidates, params) }
    }

    /// Sorted by `seq` in Swift, not SQL: `ORDER BY seq` would tempt the planner into walking the whole table in
    /// rowid order instead of searching the small rescue index.
    static let rescueExpiredSQL = """
        SELECT seq, id, function_id, attempt, max_attempts, lease_owner, lease_expires_at FROM requests
        WHERE state = 'running' AND lease_expires_at < ?
        """

    static let rescueAllSQL = """
        SELECT seq, id, function_id, attempt, max_attempts, lease_owner, lease_expires_at FROM requests
        WHERE state = 'running'
        """

    private static func rescueCandidates(_ db: Database, _ params: RequestRescueParams) throws -> [RescueCandidate] {
        let rows = try params.includeUnexpiredLeases
            ? db.cachedStatement(sql: rescueAllSQL).fetchAll([], as: candidate)
            : db.cachedStatement(sql: rescueExpiredSQL).fetchAll([params.now.unixSeconds], as: candidate)
        return rows.filter { params.rescues(owner: $0.owner, leaseExpiresAt: $0.expires) }
            .sorted { $0.seq < $1.seq }.map(\.candidate)
    }

    private static func candidate(_ s: SQLiteStatement) throws -> (seq: Int64, owner: String?, expires: Date?, candidate: RescueCandidate) {
        guard let seq = Int64.fromStatement(s, atUncheckedIndex: 0), let id = String.fromStatement(s, atUncheckedIndex: 1),
              let functionID = String.fromStatement(s, atUncheckedIndex: 2),
              let attempt = Int.fromStatement(s, atUncheckedIndex: 3),
              let maxAttempts = Int.fromStatement(s, atUncheckedIndex: 4)
        else { throw StoreError.corrupt("a running request has a NULL column") }
        return (seq, String.fromStatement(s, atUncheckedIndex: 5), Date(unixSeconds: Double.fromStatement(s, atUncheckedIndex: 6)),
                RescueCandidate(id: id, functionID: functionID, attempt: attempt, maxAttempts: maxAttempts))
    }

    private static func applyRescue(
        _ db: Database, _ candidates: [RescueCandidate], _ params: RequestRescueParams
    ) throws -> [RescueOutcome] {
        // The guard every rescue UPDATE carries: still this attempt, still running, lease still expired.
        var guardClause = "id = :id AND state = 'running' AND attempt = :attempt"
        if !params.includeUnexpiredLeases {
            guardClause += " AND lease_expires_at < :now"
        } else if let prefix = params.sparingOwnerPrefix {
            // Spared owners (runners) only once their lease expired; the prefix is a bound value, never spliced.
            guardClause += " AND (lease_expires_at < :now OR lease_owner IS NULL OR substr(lease_owner, 1, \(prefix.utf8.count)) <> :prefix)"
        }
        var outcomes: [RescueOutcome] = []
        for candidate in candidates {
            // A cancel asked for while the attempt ran ends the request here: running it again is wasted work.
            try db.cachedStatement(sql: """
                UPDATE requests
                SET state = 'cancelled', finished_at = :now, error_type = 'request_cancelled',
                    error_message = 'Request was cancelled', lease_owner = NULL, lease_expires_at = NULL
                WHERE \(guardClause) AND cancel_requested = 1
                """).execute(arguments: ["id": candidate.id, "attempt": candidate.attempt, "now": params.now.unixSeconds,
                                         "prefix": params.sparingOwnerPrefix])
            if db.changesCount == 1 {
                outcomes.append(RescueOutcome(id: candidate.id, functionID: candidate.functionID, state: .cancelled))
                continue
            }
            let exhausted = candidate.attempt >= candidate.maxAttempts
            if exhausted {
                try db.cachedStatement(sql: """
                    UPDATE requests
                    SET state = 'failed', finished_at = :now, error_type = 'runner_disconnected',
                        error_message = :message, lease_owner = NULL, lease_expires_at = NULL
                    WHERE \(guardClause)
                    """).execute(arguments: [
                        "id": candidate.id, "attempt": candidate.attempt, "now": params.now.unixSeconds,
                        "prefix": params.sparingOwnerPrefix,
                        "message": "the runner stopped renewing its lease "
                            + "(attempt \(candidate.attempt) of \(candidate.maxAttempts))",
                    ])
            } else {
                try db.cachedStatement(sql: "UPDATE requests SET state = 'queued', \(forgetAttempt) WHERE \(guardClause)")
                    .execute(arguments: ["id": candidate.id, "attempt": candidate.attempt, "now": params.now.unixSeconds,
                                         "prefix": params.sparingOwnerPrefix])
            }
            guard db.changesCount == 1 else { continue }
            outcomes.append(RescueOutcome(
                id: candidate.id, functionID: candidate.functionID, state: exhausted ? .failed : .queued))
        }
        return outcomes
    }
}
