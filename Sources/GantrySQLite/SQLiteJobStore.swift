import Foundation
import GantryCore
import GRDB

/// A `JobStore` in one SQLite file, through a GRDB `DatabasePool` in WAL mode.
///
/// `synchronous = NORMAL` makes every committed write survive the process being killed (kill -9); only an OS
/// crash or power loss may roll back the last commits. Writers are serialized by SQLite, so each guarded
/// UPDATE sees the latest committed state; the guards still matter for a second process on the same file and
/// for the read-then-write paths (rescue).
public final class SQLiteJobStore: JobStore {
    let pool: DatabasePool

    /// Opens (creating it and its parent folders if needed) and migrates the database at `path`.
    public init(path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        var configuration = Configuration()
        // Another process (a CLI, a second host during a deploy) may hold the write lock briefly.
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: url.path, configuration: configuration)
        try Schema.migrator.migrate(pool)
    }

    /// Closes the database; later calls throw. Deinitialization closes it too.
    public func close() throws {
        try pool.close()
    }

    public func requestInsert(_ params: RequestInsertParams) async throws -> RequestRecord {
        try await pool.write { db in
            do {
                try db.execute(
                    sql: """
                        INSERT INTO requests (id, tenant, function_id, input, state, priority, attempt, max_attempts,
                            created_at, start_deadline, webhook_url)
                        VALUES (?, ?, ?, ?, 'queued', ?, 0, ?, ?, ?, ?)
                        """,
                    arguments: [
                        params.id, params.tenant, params.functionID, params.input, params.priority.rawValue,
                        params.maxAttempts, params.createdAt.unixSeconds, params.startDeadline?.unixSeconds,
                        params.webhookURL,
                    ])
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                throw StoreError.duplicate(params.id)
            }
        }
        return RequestRecord(
            id: params.id, tenant: params.tenant, functionID: params.functionID, input: params.input,
            priority: params.priority, maxAttempts: params.maxAttempts, createdAt: params.createdAt,
            startDeadline: params.startDeadline, webhookURL: params.webhookURL)
    }

    public func requestGet(id: String) async throws -> RequestRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT \(RequestRow.columns) FROM requests WHERE id = ?", arguments: [id])
                .map(RequestRecord.init(row:))
        }
    }

    public func requestQueuePosition(id: String) async throws -> Int? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(
                db, sql: "SELECT function_id, priority, seq FROM requests WHERE id = ? AND state = 'queued'",
                arguments: [id])
            else { return nil }
            // The row-value comparison follows the claim index's (priority, seq) order, so this is a range count
            // over that one function's queued entries.
            return try Int.fetchOne(db, sql: Self.positionSQL, arguments: [
                row["function_id"] as String, row["priority"] as Int, row["seq"] as Int64,
            ])
        }
    }

    static let positionSQL = """
        SELECT COUNT(*) FROM requests
        WHERE function_id = ? AND state = 'queued' AND (priority, seq) < (?, ?)
        """

    public func requestCounts() async throws -> [String: [RequestState: Int]] {
        try await pool.read { db in
            var counts: [String: [RequestState: Int]] = [:]
            let rows = try Row.fetchCursor(
                db, sql: "SELECT function_id, state, COUNT(*) AS n FROM requests GROUP BY function_id, state")
            while let row = try rows.next() {
                let functionID: String = try row.decode(forColumn: "function_id")
                let state = try RequestRow.state(row.decode(forColumn: "state"), of: "of function \(functionID)")
                counts[functionID, default: [:]][state] = try row.decode(forColumn: "n")
            }
            return counts
        }
    }

    public func requestSetProgress(id: String, attempt: Int, progress: Double) async throws {
        guard progress.isFinite else { return }
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE requests SET progress = ? WHERE id = ? AND state = 'running' AND attempt = ?",
                arguments: [min(max(progress, 0), 1), id, attempt])
        }
    }

    public func requestPrune(finishedBefore: Date) async throws -> Int {
        try await pool.write { db in
            let doomed = "finished_at < ? AND state IN (\(RequestRow.terminalStates))"
            try db.execute(
                sql: "DELETE FROM request_logs WHERE request_id IN (SELECT id FROM requests WHERE \(doomed))",
                arguments: [finishedBefore.unixSeconds])
            try db.execute(sql: "DELETE FROM requests WHERE \(doomed)", arguments: [finishedBefore.unixSeconds])
            return db.changesCount
        }
    }

    public func logAppend(requestID: String, entries: [LogEntry]) async throws {
        guard !entries.isEmpty else { return }
        try await pool.write { db in
            // A late worker may log after retention pruned its request; those lines would never be deleted.
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM requests WHERE id = ?", arguments: [requestID]) != nil
            else { return }
            let last = try Int.fetchOne(
                db, sql: "SELECT COALESCE(MAX(seq), 0) FROM request_logs WHERE request_id = ?",
                arguments: [requestID]) ?? 0
            let insert = try db.cachedStatement(sql: """
                INSERT INTO request_logs (request_id, seq, timestamp, level, message, source) VALUES (?, ?, ?, ?, ?, ?)
                """)
            for (offset, entry) in entries.enumerated() {
                try insert.execute(arguments: [
                    requestID, last + offset + 1, entry.timestamp.unixSeconds, entry.level.rawValue, entry.message,
                    entry.source,
                ])
            }
        }
    }

    public func logList(requestID: String, limit: Int) async throws -> [LogEntry] {
        guard limit > 0 else { return [] }
        return try await pool.read { db in
            try Row.fetchAll(
                db, sql: """
                    SELECT timestamp, level, message, source FROM request_logs
                    WHERE request_id = ? ORDER BY seq LIMIT ?
                    """,
                arguments: [requestID, limit]
            ).map(LogEntry.init(row:))
        }
    }
}
