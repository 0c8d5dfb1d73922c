import Foundation
@testable import GantryCore
@testable import GantrySQLite
import GRDB
import Testing

/// What only the SQLite store has: a file that outlives the process, its pragmas, its CHECK and its indexes.
@Suite struct SQLiteStoreTests {
    @Test func queuedRequestAndLogsSurviveReopening() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("nested/deeper/jobs.sqlite").path
            let first = try SQLiteJobStore(path: path)
            let inserted = try await insert(first, "r1", startDeadline: at(30))
            try await insert(first, "r2")
            _ = try await claim(first)
            try await first.logAppend(requestID: "r1", entries: [LogEntry(message: "kept", timestamp: at(1))])
            try first.close()

            let second = try SQLiteJobStore(path: path)
            #expect(normalized(try await second.requestGet(id: "r1")) == normalized({
                var running = inserted
                running.state = .running
                running.attempt = 1
                running.startedAt = at(1)
                running.leaseOwner = "worker-1"
                running.leaseExpiresAt = at(61)
                return running
            }()))
            #expect(try await second.requestGet(id: "r2")?.state == .queued)
            #expect(try await second.requestQueuePosition(id: "r2") == 0)
            #expect(try await second.logList(requestID: "r1", limit: 10).map(\.message) == ["kept"])
            try await second.logAppend(requestID: "r1", entries: [LogEntry(message: "after", timestamp: at(2))])
            #expect(try await second.logList(requestID: "r1", limit: 10).map(\.message) == ["kept", "after"])
            try second.close()
        }
    }

    /// WAL, and the writer connection (the one whose commits count) at the `synchronous` asked for, although
    /// GRDB sets NORMAL when it turns WAL on.
    @Test(arguments: [(SQLiteJobStore.Synchronous.normal, 1), (.full, 2)])
    func walAndSynchronous(setting: SQLiteJobStore.Synchronous, pragma: Int) async throws {
        try await withTemporaryDirectory { directory in
            let store = try SQLiteJobStore(path: directory.appendingPathComponent("s.sqlite").path, synchronous: setting)
            let (journal, synchronous, checkpoint) = try await store.pool.writeWithoutTransaction { db in
                (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"),
                 try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint"))
            }
            #expect(journal == "wal")
            #expect(synchronous == pragma)
            #expect(checkpoint == 10_000)
            try store.close()
        }
    }

    /// A position block whose last queued request leaves is deleted: the table follows the queue, not the history.
    @Test func emptiedQueueBlocksAreDeleted() async throws {
        try await withSQLiteStore { store in
            for index in 0..<600 { try await insert(store, "r\(index)") }
            let blocks = { try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM queue_blocks") } }
            #expect(try await blocks() == 3)
            _ = try await store.requestCancel(id: "r599", now: at(1))
            for _ in 0..<599 { _ = try await claim(store) }
            #expect(try await blocks() == 0)
        }
    }

    @Test func checkConstraintMirrorsRequestState() async throws {
        try await withSQLiteStore { store in
            for (index, state) in RequestState.allCases.enumerated() {
                try await store.pool.write { db in try rawInsert(db, id: "ok-\(index)", state: state.rawValue) }
                #expect(try await store.requestGet(id: "ok-\(index)")?.state == state)
            }
            for bogus in ["paused", "QUEUED", ""] {
                await #expect {
                    try await store.pool.write { db in try rawInsert(db, id: "bad-\(bogus)", state: bogus) }
                } throws: { error in
                    (error as? DatabaseError)?.extendedResultCode == .SQLITE_CONSTRAINT_CHECK
                }
            }
            await #expect(throws: DatabaseError.self) {
                try await store.pool.write { db in
                    try db.execute(sql: "UPDATE requests SET state = 'paused' WHERE id = 'ok-0'")
                }
            }
        }
    }

    @Test func unknownStoredStateReadsAsCorrupt() async throws {
        try await withSQLiteStore { store in
            try await store.pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA ignore_check_constraints = ON")
                try rawInsert(db, id: "r1", state: "paused")
                try db.execute(sql: "PRAGMA ignore_check_constraints = OFF")
            }
            await #expect(throws: StoreError.self) { try await store.requestGet(id: "r1") }
            await #expect(throws: StoreError.self) { try await store.requestCounts() }
        }
    }

    /// The hot queries must stay index searches so they cost the same with 100,000 finished rows as with none.
    @Test(arguments: [
        (SQLiteJobStore.claimCandidatesSQL, "requests_claim"),
        (SQLiteJobStore.claimSQL, "INTEGER PRIMARY KEY"),
        (SQLiteJobStore.heartbeatSQL, "sqlite_autoindex_requests_1"),
        (SQLiteJobStore.runningSQL, "requests_rescue"),
        (SQLiteJobStore.positionSQL, "requests_claim"),
        (SQLiteJobStore.rescueExpiredSQL, "requests_rescue"),
        ("UPDATE requests SET state = 'expired' WHERE state = 'queued' AND start_deadline IS NOT NULL "
            + "AND start_deadline < 1", "requests_expire"),
        ("DELETE FROM requests WHERE finished_at < 1 AND state IN (\(RequestRow.terminalStates))", "requests_prune"),
        ("SELECT function_id, state, COUNT(*) FROM requests GROUP BY function_id, state", "requests_counts"),
        ("SELECT timestamp FROM request_logs WHERE request_id = 'r' ORDER BY seq LIMIT 5", "request_logs"),
    ])
    func hotQueriesUseTheirIndex(sql: String, index: String) async throws {
        try await withSQLiteStore { store in
            let plan = try await store.pool.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: Self.nulls(for: sql))
                    .map { $0["detail"] as String }
            }
            #expect(plan.contains { $0.contains(index) }, "\(plan)")
            #expect(!plan.contains { $0.hasPrefix("SCAN requests") && !$0.contains("INDEX") }, "\(plan)")
        }
    }

    /// Placeholder arguments for a statement's parameters (a plan does not depend on their values).
    private static func nulls(for sql: String) -> StatementArguments {
        let names = ["now", "owner", "expires", "function", "seq", "id", "attempt"].filter { sql.contains(":\($0)") }
        if !names.isEmpty {
            var named: [String: (any DatabaseValueConvertible)?] = [:]
            for name in names { named[name] = 1 }
            return StatementArguments(named)
        }
        return StatementArguments(Array(repeating: 1, count: sql.filter { $0 == "?" }.count))
    }
}

/// Runs `body` against a fresh SQLite store in a temporary directory.
private func withSQLiteStore(_ body: (SQLiteJobStore) async throws -> Void) async throws {
    try await withTemporaryDirectory { directory in
        let store = try SQLiteJobStore(path: directory.appendingPathComponent("jobs.sqlite").path)
        try await body(store)
        try store.close()
    }
}

/// Inserts a row with raw SQL, bypassing the store, to probe the schema itself.
private func rawInsert(_ db: Database, id: String, state: String) throws {
    try db.execute(
        sql: """
            INSERT INTO requests (id, tenant, function_id, input, state, priority, attempt, max_attempts, created_at)
            VALUES (?, 't', 'f', x'7b7d', ?, 0, 0, 3, 0)
            """,
        arguments: [id, state])
}
