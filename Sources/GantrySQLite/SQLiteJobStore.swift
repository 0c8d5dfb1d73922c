import Foundation
import GantryCore
import GRDB

/// A `JobStore` in one SQLite file, through a GRDB `DatabasePool` in WAL mode.
///
/// What a commit survives is `Synchronous`: with `.normal` every committed write survives the process being
/// killed (kill -9); only an OS crash or power loss may roll back the last commits. With `.full` it survives those
/// too. Writers are serialized by SQLite, so each guarded
/// UPDATE sees the latest committed state; the guards still matter for a second process on the same file and
/// for the read-then-write paths (rescue).
public final class SQLiteJobStore: JobStore {
    let pool: DatabasePool
    /// Every write of the store goes through this group commit (see `WriteBatcher`).
    let writes: WriteBatcher
    /// Connections for the synchronous point reads (see `pointRead`).
    let pointReaders: PointReaders

    /// SQLite's `synchronous` setting, in WAL mode.
    public enum Synchronous: String, Sendable, CaseIterable {
        /// The WAL is synced only when a checkpoint copies it back: a commit survives a process crash, not power loss.
        case normal
        /// The WAL is synced at every commit (once per group-committed batch): a commit survives power loss too.
        case full
    }

    /// Opens (creating it and its parent folders if needed) and migrates the database at `path`.
    public init(path: String, synchronous: Synchronous = .normal) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        var configuration = Configuration()
        // Another process (a CLI, a second host during a deploy) may hold the write lock briefly.
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            // Checkpoint every ~40 MB of WAL rather than SQLite's 4 MB: the hot pages (queue counts, index roots)
            // are rewritten by nearly every commit, and a longer interval copies each of them back once per
            // checkpoint instead of ten times (≈7 % less CPU per queue round trip, measured with bench/host.sh).
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 10000")
        }
        pool = try DatabasePool(path: url.path, configuration: configuration)
        // After the pool is open: turning WAL on, GRDB sets NORMAL on the one writer connection, after any
        // `prepareDatabase`. The writer keeps its connection, so this holds for every later commit.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous.rawValue.uppercased())") }
        try Schema.migrator.migrate(pool)
        writes = WriteBatcher(pool: pool)
        // As many as threads can run a read at once: the cooperative pool is as wide as the cores.
        pointReaders = try PointReaders(path: url.path, count: ProcessInfo.processInfo.activeProcessorCount + 1)
    }

    /// Closes the database; later calls throw. Deinitialization closes it too.
    public func close() throws {
        try pointReaders.close()
        try pool.close()
    }

    /// Runs `body` in the next group-committed write transaction, inside its own savepoint.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await writes.write(body)
    }

    /// Runs `body`, a single indexed point lookup, synchronously on a free `PointReaders` connection, or through
    /// the pool's async read when none is free (see `PointReaders` for the measurements behind this).
    private func pointRead<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        if let outcome = pointReaders.read(body) { return try outcome.get() }
        return try await pool.unsafeRead(body)
    }

    static let insertSQL = """
        INSERT INTO requests (id, tenant, function_id, input, state, priority, attempt, max_attempts,
            created_at, start_deadline, webhook_url)
        VALUES (?, ?, ?, ?, 'queued', ?, 0, ?, ?, ?, ?)
        """

    /// Queued requests in the lanes a new request of this function and priority waits behind: its own (all older)
    /// and every more urgent one.
    static let lanePositionSQL = "SELECT COALESCE(SUM(queued), 0) FROM queue_lanes WHERE function_id = ? AND priority <= ?"

    public func requestInsert(_ params: RequestInsertParams) async throws -> InsertedRequest {
        let arguments: StatementArguments = [
            params.id, params.tenant, params.functionID, params.input, params.priority.rawValue,
            params.maxAttempts, params.createdAt.unixSeconds, params.startDeadline?.unixSeconds,
            params.webhookURL,
        ]
        let id = params.id
        let delivery: StatementArguments? = params.webhookURL.map { url in
            [params.id, params.tenant, url, WebhookDelivery.hostKey(for: url), params.webhookFormat.rawValue,
             params.createdAt.unixSeconds]
        }
        let lane: StatementArguments = [params.functionID, params.priority.rawValue]
        let claim = params.claimIfFirst.map { claim -> StatementArguments in
            [claim.owner, params.createdAt.addingTimeInterval(claim.leaseDuration).unixSeconds]
        }
        let (position, claimed) = try await write { db -> (Int, Bool) in
            let ahead = try Int.fetchOne(db.cachedStatement(sql: Self.lanePositionSQL), arguments: lane) ?? 0
            // Nothing would be claimed before it: store it claimed, as a claim right after the insert would.
            let claimNow = claim != nil && ahead == 0
            do {
                if claimNow, let claim {
                    try db.cachedStatement(sql: Self.insertClaimedSQL).execute(arguments: arguments + claim)
                } else {
                    try db.cachedStatement(sql: Self.insertSQL).execute(arguments: arguments)
                }
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                throw StoreError.duplicate(id)
            }
            // The outbox row is part of the submit: same savepoint, same commit.
            if let delivery { try db.cachedStatement(sql: Self.webhookInsertSQL).execute(arguments: delivery) }
            return (ahead, claimNow)
        }
        var record = RequestRecord(
            id: params.id, tenant: params.tenant, functionID: params.functionID, input: params.input,
            priority: params.priority, maxAttempts: params.maxAttempts, createdAt: params.createdAt,
            startDeadline: params.startDeadline, webhookURL: params.webhookURL)
        if claimed, let direct = params.claimIfFirst {
            record.state = .running
            record.claimFields(owner: direct.owner, now: params.createdAt, leaseDuration: direct.leaseDuration)
        }
        return InsertedRequest(record: record, queuePosition: position)
    }

    /// `insertSQL` for a request claimed at its insert: running, attempt 1, leased from its creation.
    static let insertClaimedSQL = """
        INSERT INTO requests (id, tenant, function_id, input, state, priority, attempt, max_attempts,
            created_at, start_deadline, webhook_url, started_at, lease_owner, lease_expires_at)
        VALUES (?1, ?2, ?3, ?4, 'running', ?5, 1, ?6, ?7, ?8, ?9, ?7, ?10, ?11)
        """

    static let getSQL = "SELECT \(RequestRow.columns) FROM requests WHERE id = ?"

    public func requestGet(id: String) async throws -> RequestRecord? {
        try await pointRead { db in
            try db.cachedStatement(sql: Self.getSQL).fetchFirst([id], as: RequestRecord.init(statement:))
        }
    }

    public func requestQueuePosition(id: String) async throws -> Int? {
        // One statement, so one snapshot: a request claimed meanwhile reads as not queued, never as a stale count.
        try await pointRead { db in
            try Int.fetchOne(db.cachedStatement(sql: Self.positionSQL), arguments: [id])
        }
    }

    /// More urgent lanes, then this lane's blocks before the request's own (see `queue_blocks`), then the queued
    /// requests of its own block ahead of it: an index range of at most 255 entries of the claim index.
    static let positionSQL = """
        SELECT
            (SELECT COALESCE(SUM(queued), 0) FROM queue_lanes
                WHERE function_id = this.function_id AND priority < this.priority)
          + (SELECT COALESCE(SUM(queued), 0) FROM queue_blocks
                WHERE function_id = this.function_id AND priority = this.priority AND block < this.seq >> \(Schema.blockShift))
          + (SELECT COUNT(*) FROM requests AS ahead
                WHERE ahead.function_id = this.function_id AND ahead.state = 'queued' AND ahead.priority = this.priority
                    AND ahead.seq >= (this.seq >> \(Schema.blockShift)) << \(Schema.blockShift) AND ahead.seq < this.seq)
        FROM requests AS this WHERE this.id = ? AND this.state = 'queued'
        """

    static let countsSQL = "SELECT function_id, state, COUNT(*) FROM requests GROUP BY function_id, state"

    public func requestCounts() async throws -> [String: [RequestState: Int]] {
        let rows = try await pool.unsafeRead { db in
            try db.cachedStatement(sql: Self.countsSQL).fetchAll([]) { s in
                (functionID: String.fromStatement(s, atUncheckedIndex: 0) ?? "",
                 state: String.fromStatement(s, atUncheckedIndex: 1) ?? "",
                 count: Int.fromStatement(s, atUncheckedIndex: 2) ?? 0)
            }
        }
        var counts: [String: [RequestState: Int]] = [:]
        for row in rows {
            let state = try RequestRow.state(row.state, of: "of function \(row.functionID)")
            counts[row.functionID, default: [:]][state] = row.count
        }
        return counts
    }

    static let setProgressSQL = "UPDATE requests SET progress = ? WHERE id = ? AND state = 'running' AND attempt = ?"

    public func requestSetProgress(id: String, attempt: Int, progress: Double) async throws {
        guard progress.isFinite else { return }
        let arguments: StatementArguments = [min(max(progress, 0), 1), id, attempt]
        try await write { db in
            try db.cachedStatement(sql: Self.setProgressSQL).execute(arguments: arguments)
        }
    }

    public func requestPrune(finishedBefore: Date) async throws -> Int {
        let before = finishedBefore.unixSeconds
        return try await write { db in
            // A delivery still being attempted keeps its request (the webhook body is built from it).
            let doomed = """
                finished_at < ? AND state IN (\(RequestRow.terminalStates)) AND id NOT IN (
                    SELECT request_id FROM webhook_deliveries WHERE state = 'pending')
                """
            try db.execute(
                sql: "DELETE FROM request_logs WHERE request_id IN (SELECT id FROM requests WHERE \(doomed))",
                arguments: [before])
            try db.execute(
                sql: "DELETE FROM webhook_deliveries WHERE request_id IN (SELECT id FROM requests WHERE \(doomed))",
                arguments: [before])
            try db.execute(sql: "DELETE FROM requests WHERE \(doomed)", arguments: [before])
            return db.changesCount
        }
    }

    static let requestExistsSQL = "SELECT 1 FROM requests WHERE id = ?"
    static let lastLogSQL = "SELECT COALESCE(MAX(seq), 0) FROM request_logs WHERE request_id = ?"
    static let logInsertSQL = """
        INSERT INTO request_logs (request_id, seq, timestamp, level, message, source) VALUES (?, ?, ?, ?, ?, ?)
        """

    public func logAppend(requestID: String, entries: [LogEntry]) async throws {
        guard !entries.isEmpty else { return }
        try await write { db in try Self.appendLogs(db, requestID: requestID, entries: entries) }
    }

    /// Appends log lines inside the caller's transaction.
    static func appendLogs(_ db: Database, requestID: String, entries: [LogEntry]) throws {
        // A late worker may log after retention pruned its request; those lines would never be deleted.
        guard try Bool.fetchOne(db.cachedStatement(sql: Self.requestExistsSQL), arguments: [requestID]) != nil
        else { return }
        let last = try Int.fetchOne(db.cachedStatement(sql: Self.lastLogSQL), arguments: [requestID]) ?? 0
        let insert = try db.cachedStatement(sql: Self.logInsertSQL)
        for (offset, entry) in entries.enumerated() {
            try insert.execute(arguments: [
                requestID, last + offset + 1, entry.timestamp.unixSeconds, entry.level.rawValue, entry.message,
                entry.source,
            ])
        }
    }

    static let logListSQL = "SELECT \(LogEntry.columns) FROM request_logs WHERE request_id = ? ORDER BY seq LIMIT ?"

    public func logList(requestID: String, limit: Int) async throws -> [LogEntry] {
        guard limit > 0 else { return [] }
        return try await pool.unsafeRead { db in
            try db.cachedStatement(sql: Self.logListSQL).fetchAll([requestID, limit], as: LogEntry.init(statement:))
        }
    }
}
