import Foundation
import Logging
import PostgresNIO

/// The PostgreSQL schema: versioned migrations, applied at start under an advisory lock so several nodes starting at
/// once apply each exactly once. Migrations are append-only: never edit one that has shipped, add the next.
///
/// It mirrors the SQLite schema (`GantrySQLite/Schema.swift`): the same tables, the same partial indexes, and the
/// webhook trigger, here in PL/pgSQL. Instants are `double precision` unix seconds and integers `bigint`, as the
/// store binds them. One difference: there are no queue counters (`queue_lanes`, `queue_blocks`). A counter row is
/// locked by every transaction that moves a request of its lane until that transaction commits, so with several
/// nodes (and batch claims that touch many requests) every submit and claim of a function would wait for the one
/// before it: measured, 25 ms per insert with two nodes. Positions are counted on the claim index instead.
enum PostgresSchema {
    /// An arbitrary constant naming the migration lock among the cluster's advisory locks.
    static let migrationLock: Int64 = 0x6761_6e74_7279_0001

    static let migrations: [(version: Int64, name: String, sql: String)] = [
        (1, "requests, logs, outbox, registrations, queue counts", v1),
        (2, "shared files", v2),
        (3, "change notifications", v3),
        (4, "leaders", v4),
    ]

    /// Applies every migration the database lacks; returns how many ran.
    @discardableResult
    static func migrate(_ client: PostgresClient, logger: Logger) async throws -> Int {
        try await client.withConnection { connection in
            // A session lock (not a transaction one): held across the migrations' own transactions.
            try await connection.query("SELECT pg_advisory_lock(\(migrationLock))", logger: logger)
            do {
                let applied = try await apply(connection, logger: logger)
                try await connection.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
                return applied
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
                throw error
            }
        }
    }

    private static func apply(_ connection: PostgresConnection, logger: Logger) async throws -> Int {
        try await connection.query("""
            CREATE TABLE IF NOT EXISTS gantry_migrations (
                version bigint PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
            """, logger: logger)
        var done = Set<Int64>()
        for try await version in try await connection.query("SELECT version FROM gantry_migrations", logger: logger).decode(Int64.self) {
            done.insert(version)
        }
        var applied = 0
        for migration in migrations where !done.contains(migration.version) {
            try await connection.withTransaction(logger: logger) { transaction in
                for statement in statements(migration.sql) {
                    try await transaction.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await transaction.query(
                    "INSERT INTO gantry_migrations (version, name) VALUES (\(migration.version), \(migration.name))", logger: logger)
            }
            applied += 1
            logger.notice("applied a PostgreSQL migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
        }
        return applied
    }

    /// A migration's statements, split at the semicolons outside `$$`-quoted function bodies (a prepared statement
    /// holds one command).
    static func statements(_ sql: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var inBody = false
        var rest = Substring(sql)
        while let char = rest.first {
            if rest.hasPrefix("$$") {
                inBody.toggle()
                current += "$$"
                rest = rest.dropFirst(2)
                continue
            }
            rest = rest.dropFirst()
            if char == ";" && !inBody {
                statements.append(current)
                current = ""
            } else {
                current.append(char)
            }
        }
        statements.append(current)
        // A chunk of nothing but comments (after the last statement) is no statement.
        return statements.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { chunk in
            chunk.split(separator: "\n").contains { line in
                let text = line.trimmingCharacters(in: .whitespaces)
                return !text.isEmpty && !text.hasPrefix("--")
            }
        }
    }

    /// Leadership leases (`LeaderElection`). Unlogged: a leader row is worthless after a database crash anyway.
    private static let v4 = """
        CREATE UNLOGGED TABLE gantry_leaders (
            name text PRIMARY KEY,
            owner text NOT NULL,
            expires_at double precision NOT NULL
        )
        """

    /// The channel every node listens on (`PostgresChangeFeed`).
    static let changeChannel = "gantry_changes"

    /// The changes a waiter on another node needs are announced on `changeChannel` by the statement that makes them,
    /// delivered when its transaction commits (PostgreSQL drops duplicates within one transaction). The payloads are
    /// the keys of the in-process bus (`NotifierKeys`): a request's id when it ends (sync waits, status streams and
    /// webhooks wait for that); `work:FUNCTION` when a request becomes queued (a submit that was not claimed at once,
    /// a rescue, a release); `owner:OWNER` when a cancel arrives for an attempt leased to that owner; `catalog` when a
    /// runner function is registered or removed.
    ///
    /// Deliberately not announced: claims, progress, log lines and lease renewals. A transaction that notifies takes
    /// a database-wide lock from its commit until it is flushed, so every notification serializes commits across the
    /// cluster; the rest is seen by a waiter's own re-read, at least once a second.
    private static let v3 = """
        CREATE FUNCTION gantry_announce_request() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.state IN ('succeeded', 'failed', 'cancelled', 'expired') THEN
                PERFORM pg_notify('\(changeChannel)', NEW.id);
            ELSIF NEW.state = 'queued' AND (TG_OP = 'INSERT' OR OLD.state <> 'queued') THEN
                PERFORM pg_notify('\(changeChannel)', 'work:' || NEW.function_id);
                IF TG_OP = 'UPDATE' THEN PERFORM pg_notify('\(changeChannel)', NEW.id); END IF;
            END IF;
            IF TG_OP = 'UPDATE' AND NEW.cancel_requested AND NOT OLD.cancel_requested AND NEW.lease_owner IS NOT NULL THEN
                PERFORM pg_notify('\(changeChannel)', 'owner:' || NEW.lease_owner);
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER requests_announce AFTER INSERT OR UPDATE OF state, cancel_requested ON requests
            FOR EACH ROW EXECUTE FUNCTION gantry_announce_request();

        CREATE FUNCTION gantry_announce_catalog() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('\(changeChannel)', 'catalog');
            RETURN NULL;
        END $$;
        CREATE TRIGGER function_registrations_announce AFTER INSERT OR UPDATE OR DELETE ON function_registrations
            FOR EACH STATEMENT EXECUTE FUNCTION gantry_announce_catalog();
        """

    /// The cluster's shared secret files (`SharedFileStore`).
    private static let v2 = """
        CREATE TABLE shared_files (
            name text PRIMARY KEY,
            content bytea NOT NULL,
            updated_at double precision NOT NULL
        )
        """

    private static let v1 = """
        CREATE TABLE requests (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id text NOT NULL UNIQUE,
            tenant text NOT NULL,
            function_id text NOT NULL,
            input bytea NOT NULL,
            state text NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired')),
            priority bigint NOT NULL CHECK (priority IN (0, 1)),
            attempt bigint NOT NULL CHECK (attempt >= 0),
            max_attempts bigint NOT NULL,
            created_at double precision NOT NULL,
            started_at double precision,
            finished_at double precision,
            start_deadline double precision,
            lease_owner text,
            lease_expires_at double precision,
            cancel_requested boolean NOT NULL DEFAULT false,
            webhook_url text,
            result_status bigint,
            result_body bytea,
            error_message text,
            error_type text,
            progress double precision,
            inference_time double precision
        );
        CREATE INDEX requests_claim ON requests (function_id, priority, seq) WHERE state = 'queued';
        CREATE INDEX requests_rescue ON requests (lease_expires_at) WHERE state = 'running';
        CREATE INDEX requests_expire ON requests (start_deadline) WHERE state = 'queued' AND start_deadline IS NOT NULL;
        CREATE INDEX requests_prune ON requests (finished_at);
        CREATE INDEX requests_counts ON requests (function_id, state);

        CREATE TABLE request_logs (
            request_id text NOT NULL,
            seq bigint NOT NULL,
            "timestamp" double precision NOT NULL,
            level text NOT NULL,
            message text NOT NULL,
            source text NOT NULL,
            PRIMARY KEY (request_id, seq)
        );

        CREATE TABLE webhook_deliveries (
            request_id text PRIMARY KEY,
            tenant text NOT NULL,
            url text NOT NULL,
            host text NOT NULL,
            format text NOT NULL CHECK (format IN ('fal', 'fooocus')),
            state text NOT NULL CHECK (state IN ('waiting', 'pending', 'delivered', 'failed')),
            attempts bigint NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_attempt_at double precision,
            lease_owner text,
            lease_expires_at double precision,
            last_status bigint,
            last_error text,
            created_at double precision NOT NULL,
            finished_at double precision
        );
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';

        CREATE TABLE function_registrations (
            function_id text PRIMARY KEY,
            declaration bytea NOT NULL,
            registered_by text NOT NULL,
            updated_at double precision NOT NULL
        );

        -- Every terminal transition, whichever statement makes it, makes the request's webhook due in the same
        -- transaction.
        CREATE FUNCTION gantry_webhook_due() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = NEW.finished_at
            WHERE request_id = NEW.id AND state = 'waiting';
            RETURN NULL;
        END $$;
        CREATE TRIGGER requests_webhook_due AFTER UPDATE OF state ON requests
            FOR EACH ROW WHEN (NEW.state IN ('succeeded', 'failed', 'cancelled', 'expired') AND OLD.state IN ('queued', 'running'))
            EXECUTE FUNCTION gantry_webhook_due();
        """
}
