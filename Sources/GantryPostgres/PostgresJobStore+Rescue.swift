import Foundation
import GantryCore
import PostgresNIO

/// Lease rescue: running attempts whose lease expired go back to `queued`, or end `failed` once their attempts are
/// used up; one whose request a client cancelled ends `cancelled`. Candidates are read, then each is moved by a
/// statement that re-checks state, attempt and expiry, so an attempt that finished, was released or renewed its
/// lease meanwhile (on any node) is skipped, never overwritten. In one transaction (`requestRescue`) the candidates
/// are locked as they are read (`SKIP LOCKED`: a row another transaction holds, a heartbeat say, is alive), so a
/// cancel cannot slip between the two halves. They are separate methods so tests can interleave writes, as another
/// node could.
extension PostgresJobStore {
    public func requestRescue(_ params: RequestRescueParams) async throws -> [RescueOutcome] {
        try await transaction("rescue") { connection in
            try await self.applyRescue(connection, try await self.rescueCandidates(connection, params), params)
        }
    }

    /// First half of a rescue, on its own.
    func rescueCandidates(_ params: RequestRescueParams) async throws -> [RescueCandidate] {
        try await transaction("rescue candidates") { connection in try await self.rescueCandidates(connection, params) }
    }

    /// Second half of a rescue, in its own transaction.
    func applyRescue(_ candidates: [RescueCandidate], _ params: RequestRescueParams) async throws -> [RescueOutcome] {
        try await transaction("rescue") { connection in try await self.applyRescue(connection, candidates, params) }
    }

    private func rescueCandidates(_ connection: PostgresConnection, _ params: RequestRescueParams) async throws -> [RescueCandidate] {
        let now = params.now.unixSeconds
        let rows = try await (params.includeUnexpiredLeases
            ? connection.rows("""
                SELECT seq, id, function_id, attempt, max_attempts, lease_owner, lease_expires_at FROM requests WHERE state = 'running'
                FOR UPDATE SKIP LOCKED
                """, logger: logger)
            : connection.rows("""
                SELECT seq, id, function_id, attempt, max_attempts, lease_owner, lease_expires_at FROM requests
                WHERE state = 'running' AND lease_expires_at < \(now)
                FOR UPDATE SKIP LOCKED
                """, logger: logger))
        return try rows.map { row -> (seq: Int64, owner: String?, expires: Date?, candidate: RescueCandidate) in
            let r = row.makeRandomAccess()
            return (try r.required(0, "seq"), try r.optional(5), try r.date(6),
                    RescueCandidate(id: try r.required(1, "id"), functionID: try r.required(2, "function_id"),
                                    attempt: try r.required(3, "attempt"), maxAttempts: try r.required(4, "max_attempts")))
        }
        .filter { params.rescues(owner: $0.owner, leaseExpiresAt: $0.expires) }
        .sorted { $0.seq < $1.seq }
        .map(\.candidate)
    }

    private func applyRescue(_ connection: PostgresConnection, _ candidates: [RescueCandidate], _ params: RequestRescueParams)
        async throws -> [RescueOutcome]
    {
        // The guard of every rescue statement: still this attempt, still running, lease still expired (or, rescuing
        // every lease, a spared owner's only once expired).
        let guardSQL: String = if !params.includeUnexpiredLeases {
            "AND lease_expires_at < $3"
        } else if params.sparingOwnerPrefix != nil {
            "AND (lease_expires_at < $3 OR lease_owner IS NULL OR left(lease_owner, length($4)) <> $4)"
        } else {
            ""
        }
        var outcomes: [RescueOutcome] = []
        for candidate in candidates {
            // Every statement gets the same five parameters ($1 id, $2 attempt, $3 now, $4 spared prefix, $5
            // message); their types are sent with them, so one a statement does not use is fine.
            func move(_ set: String, onlyCancelled: Bool = false, message: String = "") async throws -> Bool {
                var binds = PostgresBindings()
                binds.append(candidate.id)
                binds.append(candidate.attempt)
                binds.append(params.now.unixSeconds)
                binds.append(params.sparingOwnerPrefix ?? "")
                binds.append(message)
                let sql = "UPDATE requests SET \(set) WHERE id = $1 AND state = 'running' AND attempt = $2 \(guardSQL)"
                    + (onlyCancelled ? " AND cancel_requested" : "") + " RETURNING 1"
                return try await !connection.rows(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).isEmpty
            }
            // A cancel asked for while the attempt ran ends the request here: running it again is wasted work.
            if try await move("""
                state = 'cancelled', finished_at = $3, error_type = 'request_cancelled', error_message = 'Request was cancelled',
                lease_owner = NULL, lease_expires_at = NULL
                """, onlyCancelled: true) {
                outcomes.append(RescueOutcome(id: candidate.id, functionID: candidate.functionID, state: .cancelled))
                continue
            }
            let exhausted = candidate.attempt >= candidate.maxAttempts
            let moved = exhausted
                ? try await move("""
                    state = 'failed', finished_at = $3, error_type = 'runner_disconnected', error_message = $5,
                    lease_owner = NULL, lease_expires_at = NULL
                    """, message: "the runner stopped renewing its lease (attempt \(candidate.attempt) of \(candidate.maxAttempts))")
                : try await move("state = 'queued', lease_owner = NULL, lease_expires_at = NULL, started_at = NULL, progress = NULL")
            if moved {
                outcomes.append(RescueOutcome(id: candidate.id, functionID: candidate.functionID, state: exhausted ? .failed : .queued))
            }
        }
        return outcomes
    }
}
