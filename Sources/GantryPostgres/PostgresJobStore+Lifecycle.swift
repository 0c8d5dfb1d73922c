import Foundation
import GantryCore
import PostgresNIO

/// The state transitions. Each is one statement whose WHERE clause names the state (and attempt, and lease owner)
/// it expects, so a node that lost its lease meanwhile changes nothing; the rows it returns tell whether it won.
extension PostgresJobStore {
    /// Per function, in a fixed order: the head of its queue, locked with `SKIP LOCKED` inside a CTE (the fence that
    /// keeps the planner from updating more rows than the LIMIT), then updated to running. Nodes claiming at once take
    /// disjoint requests and never wait. One function's claim is one statement, in its own implicit transaction.
    public func requestClaim(_ params: RequestClaimParams) async throws -> [RequestRecord] {
        guard params.limit > 0, !params.functionIDs.isEmpty else { return [] }
        let now = params.now.unixSeconds
        let expires = params.now.addingTimeInterval(params.leaseDuration).unixSeconds
        let functions = Array(Set(params.functionIDs)).sorted()
        if functions.count == 1 {
            let statement = ClaimStatement(function: functions[0], now: now, limit: params.limit, owner: params.owner, expires: expires)
            return Self.inClaimOrder(try Self.claimed(try await run(statement, "claim")))
        }
        let claimed = try await transaction("claim") { connection -> [(Int64, RequestRecord)] in
            // Several functions: pick the overall head first (priority, then seq), then claim those rows.
            let heads = try await connection.rows("""
                SELECT function_id, seq FROM requests
                WHERE function_id = ANY(\(functions)) AND state = 'queued' AND (start_deadline IS NULL OR start_deadline >= \(now))
                ORDER BY priority, seq LIMIT \(params.limit)
                """, logger: self.logger).map { try $0.decode((String, Int64).self) }
            var taken: [(Int64, RequestRecord)] = []
            for function in functions {
                let wanted = heads.filter { $0.0 == function }.count
                guard wanted > 0 else { continue }
                taken += try await self.claim(connection, function: function, limit: wanted, now: now, expires: expires, owner: params.owner)
            }
            return taken
        }
        return Self.inClaimOrder(claimed)
    }

    /// The records of `ClaimStatement`'s rows, each with its `seq` (position 22).
    static func claimed(_ rows: [PostgresRow]) throws -> [(Int64, RequestRecord)] {
        try rows.map { row in (try row.makeRandomAccess()[22].decode(Int64.self), try PostgresRows.request(row)) }
    }

    /// Claimed records in the order a claim takes them: priority, then `seq`.
    static func inClaimOrder(_ claimed: [(Int64, RequestRecord)]) -> [RequestRecord] {
        claimed.sorted { ($0.1.priority.rawValue, $0.0) < ($1.1.priority.rawValue, $1.0) }.map(\.1)
    }

    /// Overdue requests are skipped here and left for `requestExpireOverdue`, which ends them `expired`.
    private func claim(_ connection: PostgresConnection, function: String, limit: Int, now: Double, expires: Double, owner: String)
        async throws -> [(Int64, RequestRecord)]
    {
        try Self.claimed(try await Self.run(ClaimStatement(function: function, now: now, limit: limit, owner: owner, expires: expires),
                                            on: connection, logger: logger))
    }

    /// The request columns of the updated rows, then `seq` (position 22) to sort the claims by.
    static let claimedColumns = PostgresRows.requestColumns.split(separator: ",")
        .map { "r." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", ") + ", r.seq"

    public func requestHeartbeat(_ params: [RequestHeartbeatParams]) async throws -> [HeartbeatOutcome] {
        guard !params.isEmpty else { return [] }
        return try await transaction("heartbeat") { connection in
            var outcomes: [HeartbeatOutcome] = []
            for item in params {
                let fence = item.fence
                let renewed = try await connection.rows("""
                    UPDATE requests SET lease_expires_at = \(item.leaseExpiresAt.unixSeconds)
                    WHERE id = \(fence.requestID) AND state = 'running' AND attempt = \(fence.attempt) AND lease_owner = \(fence.owner)
                    RETURNING cancel_requested
                    """, logger: self.logger)
                outcomes.append(try renewed.first.map { .renewed(cancelRequested: try $0.decode(Bool.self)) } ?? .lost)
            }
            return outcomes
        }
    }

    /// The one terminal UPDATE of a running attempt, coalesced with the others in flight (`FinishCoalescer`); the
    /// row comes back from the same statement.
    public func requestFinish(_ update: TerminalUpdate) async throws -> RequestRecord? {
        try await finishes.finish(update)
    }

    /// The row is locked first, so the state it branches on cannot change under it (a release or rescue committing
    /// between two statements would otherwise make a live request read as finished).
    public func requestCancel(id: String, now: Date) async throws -> CancelOutcome {
        let now = now.unixSeconds
        return try await transaction("cancel") { connection in
            guard let state = try await connection.rows("SELECT state FROM requests WHERE id = \(id) FOR UPDATE", logger: self.logger)
                .first?.decode(String.self) else { return .notFound }
            switch state {
            case "queued":
                try await connection.rows("UPDATE requests SET state = 'cancelled', finished_at = \(now) WHERE id = \(id)", logger: self.logger)
                return .cancelled
            case "running":
                try await connection.rows("UPDATE requests SET cancel_requested = true WHERE id = \(id)", logger: self.logger)
                return .cancelRequested
            default:
                return .alreadyCompleted
            }
        }
    }

    public func requestRelease(_ params: RequestReleaseParams) async throws -> Bool {
        let fence = params.fence
        let now = params.now.unixSeconds
        return try await transaction("release") { connection in
            if try await !connection.rows("""
                UPDATE requests
                SET state = 'queued', attempt = attempt - 1, lease_owner = NULL, lease_expires_at = NULL, started_at = NULL, progress = NULL
                WHERE id = \(fence.requestID) AND state = 'running' AND attempt = \(fence.attempt) AND lease_owner = \(fence.owner)
                    AND NOT cancel_requested
                RETURNING 1
                """, logger: self.logger).isEmpty { return true }
            // A released attempt whose request a client cancelled meanwhile ends the request instead.
            return try await !connection.rows("""
                UPDATE requests
                SET state = 'cancelled', finished_at = \(now), error_type = 'request_cancelled', error_message = 'Request was cancelled',
                    lease_owner = NULL, lease_expires_at = NULL
                WHERE id = \(fence.requestID) AND state = 'running' AND attempt = \(fence.attempt) AND lease_owner = \(fence.owner)
                    AND cancel_requested
                RETURNING 1
                """, logger: self.logger).isEmpty
        }
    }

    public func requestExpireOverdue(now: Date) async throws -> [String] {
        let now = now.unixSeconds
        return try await transaction("expire") { connection in
            try await connection.rows("""
                UPDATE requests SET state = 'expired', finished_at = \(now)
                WHERE state = 'queued' AND start_deadline IS NOT NULL AND start_deadline < \(now)
                RETURNING id, seq
                """, logger: self.logger).map { try $0.decode((String, Int64).self) }
                .sorted { $0.1 < $1.1 }.map(\.0)
        }
    }
}
