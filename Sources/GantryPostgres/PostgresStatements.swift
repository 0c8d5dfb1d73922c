import Foundation
import GantryCore
import PostgresNIO

/// The statements every request runs, prepared once per connection (postgres-nio names and caches them): a
/// request's read, insert, claim and finish are parsed and planned once instead of on every call.
protocol PreparedStoreStatement: PostgresPreparedStatement where Row == PostgresRow {}

extension PreparedStoreStatement {
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

extension PostgresJobStore {
    /// Runs a prepared statement and collects its rows.
    func run<Statement: PreparedStoreStatement>(_ statement: Statement, _ what: String) async throws -> [PostgresRow] {
        try await bounded(what) {
            var rows: [PostgresRow] = []
            for try await row in try await self.client.execute(statement, logger: self.logger) { rows.append(row) }
            return rows
        }
    }

    /// Runs a prepared statement on a connection (inside a transaction) and collects its rows.
    static func run<Statement: PreparedStoreStatement>(_ statement: Statement, on connection: PostgresConnection, logger: Logger)
        async throws -> [PostgresRow]
    {
        var rows: [PostgresRow] = []
        for try await row in try await connection.execute(statement, logger: logger) { rows.append(row) }
        return rows
    }
}

/// A submit in one statement (see `PostgresJobStore.requestInsert`). Answers the count ahead and whether the request
/// was stored claimed.
struct InsertRequestStatement: PreparedStoreStatement {
    static let sql = """
        WITH ahead AS (
            SELECT count(*) AS n FROM requests WHERE function_id = $1 AND state = 'queued' AND priority <= $2),
        decided AS (SELECT n, ($3 AND n = 0) AS claimed FROM ahead),
        stored AS (
            INSERT INTO requests (id, tenant, function_id, input, state, priority, attempt, max_attempts, created_at,
                start_deadline, webhook_url, started_at, lease_owner, lease_expires_at)
            SELECT $4, $5, $1, $6, CASE WHEN claimed THEN 'running' ELSE 'queued' END, $2, CASE WHEN claimed THEN 1 ELSE 0 END,
                $7, $8, $9, $10, CASE WHEN claimed THEN $8 END, CASE WHEN claimed THEN $11 END, CASE WHEN claimed THEN $12 END
            FROM decided
            RETURNING 1),
        outbox AS (
            INSERT INTO webhook_deliveries (request_id, tenant, url, host, format, state, created_at)
            SELECT $4, $5, $10, $13, $14, 'waiting', $8 WHERE $10 IS NOT NULL)
        SELECT n, claimed FROM decided
        """
    // Declared, not inferred: several parameters appear only where PostgreSQL cannot tell their type (`$10 IS NOT
    // NULL`, a CASE branch).
    static let bindingDataTypes: [PostgresDataType] = [
        .text, .int8, .bool, .text, .text, .bytea, .int8, .float8, .float8, .text, .text, .float8, .text, .text,
    ]
    let params: RequestInsertParams

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings()
        let direct = params.claimIfFirst
        bindings.append(params.functionID)
        bindings.append(params.priority.rawValue)
        bindings.append(direct != nil)
        bindings.append(params.id)
        bindings.append(params.tenant)
        try bindings.append(params.input)
        bindings.append(params.maxAttempts)
        bindings.append(params.createdAt.unixSeconds)
        bindings.append(params.startDeadline?.unixSeconds)
        bindings.append(params.webhookURL)
        bindings.append(direct?.owner)
        bindings.append(direct.map { params.createdAt.addingTimeInterval($0.leaseDuration).unixSeconds })
        bindings.append(params.webhookURL.map(WebhookDelivery.hostKey(for:)))
        bindings.append(params.webhookFormat.rawValue)
        return bindings
    }
}

/// The head of one function's queue, claimed (see `PostgresJobStore.requestClaim`).
struct ClaimStatement: PreparedStoreStatement {
    static let sql = """
        WITH head AS (
            SELECT seq FROM requests
            WHERE function_id = $1 AND state = 'queued' AND (start_deadline IS NULL OR start_deadline >= $2)
            ORDER BY priority, seq LIMIT $3
            FOR UPDATE SKIP LOCKED)
        UPDATE requests AS r
        SET state = 'running', attempt = attempt + 1, started_at = $2, lease_owner = $4, lease_expires_at = $5
        FROM head WHERE r.seq = head.seq AND r.state = 'queued'
        RETURNING \(PostgresJobStore.claimedColumns)
        """
    static let bindingDataTypes: [PostgresDataType] = [.text, .float8, .int8, .text, .float8]
    let function: String
    let now: Double
    let limit: Int
    let owner: String
    let expires: Double

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(function)
        bindings.append(now)
        bindings.append(limit)
        bindings.append(owner)
        bindings.append(expires)
        return bindings
    }
}

extension PostgresJobStore {
    /// Terminal writes of several running attempts in one statement (`FinishCoalescer`), each row under its own fence;
    /// answers the rows it changed. Unnamed, so it is planned for its own arrays (see `ReadCoalescer`'s use).
    /// Nullable fields travel as a value and a flag: postgres-nio's arrays hold no NULLs.
    static func finishQuery(_ updates: [TerminalUpdate]) -> PostgresQuery {
        let ids = updates.map(\.fence.requestID), attempts = updates.map(\.fence.attempt), owners = updates.map(\.fence.owner)
        let states = updates.map(\.state.rawValue), statuses = updates.map(\.result.status)
        let bodies = updates.map { ByteBuffer(data: $0.result.body) }
        let messages = updates.map { $0.errorMessage ?? "" }, hasMessages = updates.map { $0.errorMessage != nil }
        let types = updates.map { $0.errorType ?? "" }, hasTypes = updates.map { $0.errorType != nil }
        let inferences = updates.map { $0.inferenceTime ?? 0 }, hasInferences = updates.map { $0.inferenceTime != nil }
        let nows = updates.map(\.now.unixSeconds)
        return """
            UPDATE requests AS r
            SET state = v.state, result_status = v.status, result_body = v.body,
                error_message = CASE WHEN v.has_message THEN v.message END, error_type = CASE WHEN v.has_type THEN v.type END,
                inference_time = CASE WHEN v.has_inference THEN v.inference END, finished_at = v.now,
                lease_owner = NULL, lease_expires_at = NULL
            FROM unnest(\(ids)::text[], \(attempts)::int8[], \(owners)::text[], \(states)::text[], \(statuses)::int8[],
                        \(bodies)::bytea[], \(messages)::text[], \(hasMessages)::bool[], \(types)::text[], \(hasTypes)::bool[],
                        \(inferences)::float8[], \(hasInferences)::bool[], \(nows)::float8[])
                AS v(id, attempt, owner, state, status, body, message, has_message, type, has_type, inference, has_inference, now)
            WHERE r.id = v.id AND r.state = 'running' AND r.attempt = v.attempt AND r.lease_owner = v.owner
            RETURNING \(unescaped: qualifiedRequestColumns)
            """
    }

    /// `PostgresRows.requestColumns` of the updated row (`r.`), for a RETURNING beside another relation.
    static let qualifiedRequestColumns = PostgresRows.requestColumns.split(separator: ",")
        .map { "r." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")
}
