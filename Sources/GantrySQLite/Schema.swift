import GRDB

/// The SQLite schema, applied by `DatabaseMigrator` so a database file created by an older build is upgraded in
/// place. Migrations are append-only: never edit one that has shipped, add the next.
enum Schema {
    /// Every migration, in order.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: requests and logs") { db in
            try db.execute(sql: requestsTable)
            try db.execute(sql: requestsIndexes)
            try db.execute(sql: logsTable)
        }
        migrator.registerMigration("v2: webhook outbox") { db in
            try db.execute(sql: webhookDeliveriesTable)
            try db.execute(sql: webhookTrigger)
        }
        migrator.registerMigration("v3: function registrations") { db in
            try db.execute(sql: functionRegistrationsTable)
        }
        migrator.registerMigration("v4: queue lanes") { db in
            try db.execute(sql: queueLanes)
        }
        migrator.registerMigration("v5: queue blocks") { db in
            try db.execute(sql: queueBlocks)
        }
        return migrator
    }

    /// How many requests are queued per function and priority, kept by triggers on every way a request enters or
    /// leaves `queued` (submit, claim, cancel, expiry, rescue, release, prune), so a submit learns its queue position
    /// from a handful of rows however deep the queue is, instead of counting the requests ahead of it.
    private static let queueLanes = """
        CREATE TABLE queue_lanes (
            function_id TEXT NOT NULL,
            priority INTEGER NOT NULL,
            queued INTEGER NOT NULL,
            PRIMARY KEY (function_id, priority)
        ) WITHOUT ROWID;
        INSERT INTO queue_lanes (function_id, priority, queued)
            SELECT function_id, priority, COUNT(*) FROM requests WHERE state = 'queued' GROUP BY function_id, priority;
        CREATE TRIGGER queue_lanes_insert AFTER INSERT ON requests WHEN NEW.state = 'queued'
        BEGIN
            INSERT INTO queue_lanes (function_id, priority, queued) VALUES (NEW.function_id, NEW.priority, 1)
                ON CONFLICT (function_id, priority) DO UPDATE SET queued = queued + excluded.queued;
        END;
        CREATE TRIGGER queue_lanes_move AFTER UPDATE OF state ON requests
        WHEN (OLD.state = 'queued') <> (NEW.state = 'queued')
        BEGIN
            INSERT INTO queue_lanes (function_id, priority, queued)
                VALUES (NEW.function_id, NEW.priority, CASE WHEN NEW.state = 'queued' THEN 1 ELSE -1 END)
                ON CONFLICT (function_id, priority) DO UPDATE SET queued = queued + excluded.queued;
        END;
        CREATE TRIGGER queue_lanes_delete AFTER DELETE ON requests WHEN OLD.state = 'queued'
        BEGIN
            UPDATE queue_lanes SET queued = queued - 1 WHERE function_id = OLD.function_id AND priority = OLD.priority;
        END;
        """

    /// The requests of a lane numbered `seq` in `[block << 8, (block + 1) << 8)`.
    static let blockShift = 8

    /// `queue_lanes` split into blocks of 256 consecutive `seq` numbers, kept by the same kind of triggers (a block
    /// whose last queued request leaves is deleted, so the table follows the queue, not the history). A queued
    /// request's position is then the more urgent lanes' counts, plus the counts of its lane's blocks before its
    /// own, plus a count of at most 255 index entries inside its block: a status poll reads about depth / 256 + 256
    /// small rows instead of every request ahead (a 100,000-deep queue: ~650 instead of up to 100,000).
    private static let queueBlocks = """
        CREATE TABLE queue_blocks (
            function_id TEXT NOT NULL,
            priority INTEGER NOT NULL,
            block INTEGER NOT NULL,
            queued INTEGER NOT NULL,
            PRIMARY KEY (function_id, priority, block)
        ) WITHOUT ROWID;
        INSERT INTO queue_blocks (function_id, priority, block, queued)
            SELECT function_id, priority, seq >> \(blockShift), COUNT(*) FROM requests WHERE state = 'queued'
            GROUP BY function_id, priority, seq >> \(blockShift);
        CREATE TRIGGER queue_blocks_insert AFTER INSERT ON requests WHEN NEW.state = 'queued'
        BEGIN
            INSERT INTO queue_blocks (function_id, priority, block, queued)
                VALUES (NEW.function_id, NEW.priority, NEW.seq >> \(blockShift), 1)
                ON CONFLICT (function_id, priority, block) DO UPDATE SET queued = queued + excluded.queued;
        END;
        CREATE TRIGGER queue_blocks_move AFTER UPDATE OF state ON requests
        WHEN (OLD.state = 'queued') <> (NEW.state = 'queued')
        BEGIN
            INSERT INTO queue_blocks (function_id, priority, block, queued)
                VALUES (NEW.function_id, NEW.priority, NEW.seq >> \(blockShift), CASE WHEN NEW.state = 'queued' THEN 1 ELSE -1 END)
                ON CONFLICT (function_id, priority, block) DO UPDATE SET queued = queued + excluded.queued;
            DELETE FROM queue_blocks
            WHERE function_id = NEW.function_id AND priority = NEW.priority AND block = NEW.seq >> \(blockShift) AND queued = 0;
        END;
        CREATE TRIGGER queue_blocks_delete AFTER DELETE ON requests WHEN OLD.state = 'queued'
        BEGIN
            UPDATE queue_blocks SET queued = queued - 1
            WHERE function_id = OLD.function_id AND priority = OLD.priority AND block = OLD.seq >> \(blockShift);
            DELETE FROM queue_blocks
            WHERE function_id = OLD.function_id AND priority = OLD.priority AND block = OLD.seq >> \(blockShift) AND queued = 0;
        END;
        """

    /// Runner functions as their runners declared them, kept so a restarted host validates submissions (and lists
    /// the functions) before any runner reconnects.
    private static let functionRegistrationsTable = """
        CREATE TABLE function_registrations (
            function_id TEXT PRIMARY KEY,
            declaration BLOB NOT NULL,
            registered_by TEXT NOT NULL,
            updated_at REAL NOT NULL
        )
        """

    /// `seq` fixes each request's FIFO place for good: a rescued request keeps it and so goes back ahead of later
    /// submissions. AUTOINCREMENT keeps a pruned tail's numbers from being handed out again.
    /// The state CHECK spells out `RequestState` literally (a test pins that the two agree), because a list built
    /// from the enum at migration time would silently differ between databases created by different builds.
    private static let requestsTable = """
        CREATE TABLE requests (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            tenant TEXT NOT NULL,
            function_id TEXT NOT NULL,
            input BLOB NOT NULL,
            state TEXT NOT NULL
                CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired')),
            priority INTEGER NOT NULL CHECK (priority IN (0, 1)),
            attempt INTEGER NOT NULL CHECK (attempt >= 0),
            max_attempts INTEGER NOT NULL,
            created_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL,
            start_deadline REAL,
            lease_owner TEXT,
            lease_expires_at REAL,
            cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
            webhook_url TEXT,
            result_status INTEGER,
            result_body BLOB,
            error_message TEXT,
            error_type TEXT,
            progress REAL,
            inference_time REAL
        )
        """

    /// Partial indexes keep each hot query proportional to the rows it can match, not to the table: history
    /// (terminal rows) grows without bound until retention prunes it.
    private static let requestsIndexes = """
        CREATE INDEX requests_claim ON requests (function_id, priority, seq) WHERE state = 'queued';
        CREATE INDEX requests_rescue ON requests (lease_expires_at) WHERE state = 'running';
        CREATE INDEX requests_expire ON requests (start_deadline)
            WHERE state = 'queued' AND start_deadline IS NOT NULL;
        CREATE INDEX requests_prune ON requests (finished_at);
        CREATE INDEX requests_counts ON requests (function_id, state);
        """

    /// `seq` numbers a request's lines from 1 so they list in append order; the primary key doubles as the
    /// index by request. No foreign key: prune deletes the lines itself in the same transaction.
    private static let logsTable = """
        CREATE TABLE request_logs (
            request_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            timestamp REAL NOT NULL,
            level TEXT NOT NULL,
            message TEXT NOT NULL,
            source TEXT NOT NULL,
            PRIMARY KEY (request_id, seq)
        )
        """

    /// The webhook outbox: one row per request submitted with a webhook, inserted with the request (`waiting`).
    private static let webhookDeliveriesTable = """
        CREATE TABLE webhook_deliveries (
            request_id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            url TEXT NOT NULL,
            host TEXT NOT NULL,
            format TEXT NOT NULL CHECK (format IN ('fal', 'fooocus')),
            state TEXT NOT NULL CHECK (state IN ('waiting', 'pending', 'delivered', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_attempt_at REAL,
            lease_owner TEXT,
            lease_expires_at REAL,
            last_status INTEGER,
            last_error TEXT,
            created_at REAL NOT NULL,
            finished_at REAL
        );
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
        """

    /// Every terminal transition, whichever statement makes it (finish, cancel, rescue, expire, and any later
    /// one), makes the request's delivery due inside that statement's own transaction: the trigger is the one
    /// place that cannot be forgotten.
    private static let webhookTrigger = """
        CREATE TRIGGER requests_webhook_due AFTER UPDATE OF state ON requests
        WHEN NEW.state IN ('succeeded', 'failed', 'cancelled', 'expired') AND OLD.state IN ('queued', 'running')
        BEGIN
            UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = NEW.finished_at
            WHERE request_id = NEW.id AND state = 'waiting';
        END
        """
}
