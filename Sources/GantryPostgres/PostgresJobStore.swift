import Foundation
import GantryCore
import Logging
import PostgresNIO

/// A `JobStore` on PostgreSQL through postgres-nio, shared by every node of a cluster.
///
/// It keeps what the SQLite store keeps, in the same shape (`PostgresSchema`), and makes the same guarantees:
/// every transition is one statement fenced by id, attempt, state (and lease owner), so a node that lost a lease
/// changes nothing; a claim takes queued rows with `FOR UPDATE SKIP LOCKED` inside a CTE, so nodes claiming at once
/// never take the same request and never wait for each other's rows. Statements that may touch several requests'
/// queue counters retry a deadlock PostgreSQL broke (`runRetrying`).
///
/// The client's connection pool runs in a task the store owns; `close()` ends it. A database that does not answer
/// makes each call fail after `callTimeout` instead of waiting forever (postgres-nio queues a call until a
/// connection opens).
public final class PostgresJobStore: JobStore {
    let client: PostgresClient
    let logger: Logger
    let callTimeout: Duration
    /// Concurrent `requestGet`s, answered a batch per statement.
    let reads: ReadCoalescer
    /// Concurrent terminal writes, a batch per statement.
    let finishes: FinishCoalescer
    private let pool: Task<Void, Never>

    private init(client: PostgresClient, logger: Logger, callTimeout: Duration) {
        self.client = client
        self.logger = logger
        self.callTimeout = callTimeout
        // Both batches go as unnamed statements: a named prepared statement is switched to a generic plan after
        // five runs, and one made while the table was small scans it (3 ms a batch instead of 0.1 ms, measured).
        reads = ReadCoalescer { ids in
            try await Self.requests("SELECT \(unescaped: PostgresRows.requestColumns) FROM requests WHERE id = ANY(\(ids))",
                                    "get", client: client, timeout: callTimeout, logger: logger)
        }
        finishes = FinishCoalescer { updates in
            try await Self.retrying("finish", logger: logger) {
                try await Self.requests(Self.finishQuery(updates), "finish", client: client, timeout: callTimeout, logger: logger)
            }
        }
        pool = Task { await client.run() }
    }

    /// Connects, applies missing migrations (under an advisory lock: nodes may start together), and returns the store.
    public static func open(url: DatabaseURL, maximumConnections: Int = 16, callTimeout: Duration = .seconds(30),
                            logger: Logger) async throws -> PostgresJobStore {
        // The server gives up on a statement a little before the caller does.
        let client = PostgresClient(configuration: try url.clientConfiguration(maximumConnections: maximumConnections,
                                                                                statementTimeout: callTimeout - .seconds(1)),
                                    backgroundLogger: logger)
        let store = PostgresJobStore(client: client, logger: logger, callTimeout: callTimeout)
        do {
            try await store.bounded("migrate") { try await PostgresSchema.migrate(client, logger: logger) }
        } catch {
            store.close()
            throw error
        }
        return store
    }

    /// Applies missing migrations and returns how many ran (`gantry migrate`).
    public static func migrate(url: DatabaseURL, logger: Logger) async throws -> Int {
        let client = PostgresClient(configuration: try url.clientConfiguration(maximumConnections: 1), backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Int?.self) { group in
            group.addTask { await client.run(); return nil }
            defer { group.cancelAll() }
            return try await PostgresSchema.migrate(client, logger: logger)
        }
    }

    /// Closes the connection pool; later calls fail.
    public func close() { pool.cancel() }

    deinit { pool.cancel() }

    // MARK: - Running statements

    /// Runs `body`, failing with `StoreError.unavailable` when it takes longer than `callTimeout`. A statement already
    /// sent is not interrupted by this (postgres-nio waits for its answer); the server's own statement and lock
    /// timeouts, set a second shorter on every connection, end it.
    func bounded<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await Self.bounded(what, timeout: callTimeout, body)
    }

    static func bounded<T: Sendable>(_ what: String, timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw StoreError.unavailable("PostgreSQL did not answer within \(timeout) (\(what))")
            }
            return value
        }
    }

    /// One unnamed statement whose rows are requests, read back within `timeout`.
    static func requests(_ query: PostgresQuery, _ what: String, client: PostgresClient, timeout: Duration,
                         logger: Logger) async throws -> [RequestRecord] {
        try await bounded(what, timeout: timeout) {
            var records: [RequestRecord] = []
            for try await row in try await client.query(query, logger: logger) { records.append(try PostgresRows.request(row)) }
            return records
        }
    }

    /// One statement, its rows collected.
    @discardableResult
    func rows(_ query: PostgresQuery, _ what: String) async throws -> [PostgresRow] {
        try await bounded(what) { try await self.client.query(query, logger: self.logger).collect() }
    }

    /// `body` in one transaction, retried (up to 5 times) when PostgreSQL breaks a deadlock or a serialization
    /// conflict by aborting it; errors of the closure come out unwrapped.
    func transaction<T: Sendable>(_ what: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await Self.retrying(what, logger: logger) {
            try await self.bounded(what) {
                do {
                    return try await self.client.withTransaction(logger: self.logger) { connection in try await body(connection) }
                } catch let error as PostgresTransactionError {
                    throw error.closureError ?? error.beginError ?? error.commitError ?? error
                }
            }
        }
    }

    /// Runs `body` again (up to 5 times in all) when PostgreSQL broke a deadlock or a serialization conflict by
    /// aborting it: the statement did nothing.
    static func retrying<T: Sendable>(_ what: String, logger: Logger, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await body()
            } catch let error as PSQLError where attempt < 5 && isRetryable(error) {
                logger.debug("retrying a PostgreSQL statement", metadata: ["what": "\(what)", "sqlstate": "\(sqlState(error) ?? "")"])
            }
        }
    }

    static func sqlState(_ error: PSQLError) -> String? { error.serverInfo?[.sqlState] }

    /// Deadlock detected (40P01) or serialization failure (40001): the transaction did nothing and may run again.
    static func isRetryable(_ error: PSQLError) -> Bool { ["40P01", "40001"].contains(sqlState(error) ?? "") }
}

extension PostgresConnection {
    /// One statement on this connection (inside a transaction), its rows collected.
    @discardableResult
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        try await self.query(query, logger: logger).collect()
    }
}
