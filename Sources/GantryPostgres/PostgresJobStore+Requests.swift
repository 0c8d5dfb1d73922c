import Foundation
import GantryCore
import PostgresNIO

/// Submits, reads, counts, progress, logs and retention.
extension PostgresJobStore {
    /// One statement: the count of queued requests ahead, the request (stored claimed when a claim was asked for and
    /// nothing is ahead), and its webhook outbox row — one round trip and one implicit transaction.
    public func requestInsert(_ params: RequestInsertParams) async throws -> InsertedRequest {
        let direct = params.claimIfFirst
        let stored: [PostgresRow]
        do {
            stored = try await run(InsertRequestStatement(params: params), "insert")
        } catch let error as PSQLError where Self.sqlState(error) == "23505" {
            throw StoreError.duplicate(params.id)
        }
        guard let row = stored.first else { throw StoreError.corrupt("the insert of \(params.id) returned nothing") }
        let (position, claimed) = try row.decode((Int, Bool).self)
        var record = RequestRecord(
            id: params.id, tenant: params.tenant, functionID: params.functionID, input: params.input,
            priority: params.priority, maxAttempts: params.maxAttempts, createdAt: params.createdAt,
            startDeadline: params.startDeadline, webhookURL: params.webhookURL)
        if claimed, let direct {
            record.state = .running
            record.claimFields(owner: direct.owner, now: params.createdAt, leaseDuration: direct.leaseDuration)
        }
        return InsertedRequest(record: record, queuePosition: position)
    }

    /// Coalesced with the other reads in flight (`ReadCoalescer`).
    public func requestGet(id: String) async throws -> RequestRecord? {
        try await reads.get(id)
    }

    /// Counted on the claim index (`requests_claim`: queued requests by function, priority, seq): the requests of
    /// the function that a claim would take first. The cost grows with the depth ahead (an index-only range scan);
    /// see `PostgresSchema` for why there are no counters.
    public func requestQueuePosition(id: String) async throws -> Int? {
        try await rows("""
            SELECT (SELECT count(*) FROM requests AS ahead
                    WHERE ahead.function_id = this.function_id AND ahead.state = 'queued'
                        AND (ahead.priority, ahead.seq) < (this.priority, this.seq))
            FROM requests AS this WHERE this.id = \(id) AND this.state = 'queued'
            """, "queue position").first?.decode(Int.self)
    }

    public func requestCounts() async throws -> [String: [RequestState: Int]] {
        var counts: [String: [RequestState: Int]] = [:]
        for row in try await rows("SELECT function_id, state, COUNT(*)::bigint FROM requests GROUP BY function_id, state", "counts") {
            let (function, stateName, count) = try row.decode((String, String, Int).self)
            guard let state = RequestState(rawValue: stateName) else {
                throw StoreError.corrupt("a request of function \(function) has unknown state '\(stateName)'")
            }
            counts[function, default: [:]][state] = count
        }
        return counts
    }

    public func requestSetProgress(id: String, attempt: Int, progress: Double) async throws {
        guard progress.isFinite else { return }
        let clamped = min(max(progress, 0), 1)
        try await rows("UPDATE requests SET progress = \(clamped) WHERE id = \(id) AND state = 'running' AND attempt = \(attempt)", "progress")
    }

    /// In batches of 1,000, each its own transaction, so a large backlog (after downtime, or a shortened retention)
    /// never holds locks on millions of rows or outlives the leader's lease in one statement.
    public func requestPrune(finishedBefore: Date) async throws -> Int {
        let before = finishedBefore.unixSeconds
        var total = 0
        while true {
            let pruned = try await transaction("prune") { connection in
                // A delivery still being attempted keeps its request (the webhook body is built from it).
                let doomed = try await connection.rows("""
                    SELECT id FROM requests
                    WHERE finished_at < \(before) AND state IN ('succeeded', 'failed', 'cancelled', 'expired')
                        AND id NOT IN (SELECT request_id FROM webhook_deliveries WHERE state = 'pending')
                    LIMIT 1000
                    FOR UPDATE SKIP LOCKED
                    """, logger: self.logger).map { try $0.decode(String.self) }
                guard !doomed.isEmpty else { return 0 }
                try await connection.rows("DELETE FROM request_logs WHERE request_id = ANY(\(doomed))", logger: self.logger)
                try await connection.rows("DELETE FROM webhook_deliveries WHERE request_id = ANY(\(doomed))", logger: self.logger)
                try await connection.rows("DELETE FROM requests WHERE id = ANY(\(doomed))", logger: self.logger)
                return doomed.count
            }
            total += pruned
            if pruned < 1000 { return total }
        }
    }

    public func logAppend(requestID: String, entries: [LogEntry]) async throws {
        guard !entries.isEmpty else { return }
        try await transaction("append logs") { connection in
            try await Self.appendLogs(connection, requestID: requestID, entries: entries, logger: self.logger)
        }
    }

    /// Appends log lines inside the caller's transaction. A per-request advisory lock makes two appends to one
    /// request number their lines one after the other.
    static func appendLogs(_ connection: PostgresConnection, requestID: String, entries: [LogEntry], logger: Logger) async throws {
        // A late worker may log after retention pruned its request; those lines would never be deleted.
        // KEY SHARE keeps prune from deleting the request meanwhile without waiting on (or blocking) its updates.
        guard try await !connection.rows("SELECT 1 FROM requests WHERE id = \(requestID) FOR KEY SHARE", logger: logger).isEmpty else { return }
        try await connection.rows("SELECT pg_advisory_xact_lock(hashtextextended(\(requestID), 0))", logger: logger)
        let last = try await connection.rows("SELECT COALESCE(MAX(seq), 0)::bigint FROM request_logs WHERE request_id = \(requestID)",
                                             logger: logger).first?.decode(Int.self) ?? 0
        for (offset, entry) in entries.enumerated() {
            try await connection.rows("""
                INSERT INTO request_logs (request_id, seq, "timestamp", level, message, source)
                VALUES (\(requestID), \(last + offset + 1), \(entry.timestamp.unixSeconds), \(entry.level.rawValue), \(entry.message), \(entry.source))
                """, logger: logger)
        }
    }

    public func logList(requestID: String, limit: Int) async throws -> [LogEntry] {
        guard limit > 0 else { return [] }
        return try await rows("""
            SELECT \(unescaped: PostgresRows.logColumns) FROM request_logs WHERE request_id = \(requestID) ORDER BY seq LIMIT \(limit)
            """, "logs").map(PostgresRows.log)
    }
}
