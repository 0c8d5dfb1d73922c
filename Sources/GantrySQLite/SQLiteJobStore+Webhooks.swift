import Foundation
import GantryCore
import GRDB

/// The webhook outbox on SQLite. Rows are inserted with their request (`requestInsert`) and made due by the
/// `requests_webhook_due` trigger; here they are claimed, recorded and released, each guarded like the requests.
extension SQLiteJobStore {
    static let webhookInsertSQL = """
        INSERT INTO webhook_deliveries (request_id, tenant, url, host, format, state, created_at)
        VALUES (?, ?, ?, ?, ?, 'waiting', ?)
        """

    static let webhookColumns = """
        request_id, tenant, url, host, format, state, attempts, next_attempt_at, lease_owner, lease_expires_at, \
        last_status, last_error, created_at, finished_at
        """

    public func webhookClaimDue(_ params: WebhookClaimParams) async throws -> [WebhookDelivery] {
        guard params.limit > 0 else { return [] }
        // The excluded hosts are few (those at their limit) and bound as parameters.
        let hosts = Array(params.excludingHosts)
        let hostFilter = hosts.isEmpty ? "" : "AND host NOT IN (\(Array(repeating: "?", count: hosts.count).joined(separator: ", ")))"
        let sql = """
            UPDATE webhook_deliveries SET lease_owner = ?, lease_expires_at = ?
            WHERE request_id IN (
                SELECT request_id FROM webhook_deliveries
                WHERE state = 'pending' AND next_attempt_at <= ? AND (lease_expires_at IS NULL OR lease_expires_at < ?)
                    \(hostFilter)
                ORDER BY next_attempt_at, request_id LIMIT ?)
            RETURNING \(Self.webhookColumns)
            """
        var arguments: StatementArguments = [
            params.owner, params.now.addingTimeInterval(params.leaseDuration).unixSeconds, params.now.unixSeconds,
            params.now.unixSeconds,
        ]
        arguments += StatementArguments(hosts)
        arguments += [params.limit]
        let finalArguments = arguments
        let claimed = try await write { db in
            try db.cachedStatement(sql: sql).fetchAll(finalArguments, as: WebhookDelivery.init(statement:))
        }
        return claimed.sorted { ($0.nextAttemptAt ?? .distantPast, $0.requestID) < ($1.nextAttemptAt ?? .distantPast, $1.requestID) }
    }

    static let webhookRecordSQL = """
        UPDATE webhook_deliveries
        SET attempts = :attempt, last_status = :status, last_error = :error, lease_owner = NULL, lease_expires_at = NULL,
            state = :state, next_attempt_at = :next, finished_at = :finished
        WHERE request_id = :id AND state = 'pending' AND attempts = :attempt - 1 AND lease_owner = :owner
        """

    public func webhookRecordAttempt(_ params: WebhookAttemptParams) async throws -> Bool {
        let (state, next, finished): (WebhookDeliveryState, Double?, Double?) = switch params.next {
        case .delivered: (.delivered, nil, params.now.unixSeconds)
        case .failed: (.failed, nil, params.now.unixSeconds)
        case .retry(let at): (.pending, at.unixSeconds, nil)
        }
        let arguments: StatementArguments = [
            "attempt": params.attempt, "status": params.status, "error": params.error, "state": state.rawValue,
            "next": next, "finished": finished, "id": params.requestID, "owner": params.owner,
        ]
        let log = params.log
        return try await write { db in
            try db.cachedStatement(sql: Self.webhookRecordSQL).execute(arguments: arguments)
            guard db.changesCount == 1 else { return false }
            if let log { try Self.appendLogs(db, requestID: params.requestID, entries: [log]) }
            return true
        }
    }

    public func webhookRelease(_ params: WebhookReleaseParams) async throws {
        var conditions = ["state = 'pending'", "lease_owner IS NOT NULL"]
        var arguments = StatementArguments()
        if let owner = params.owner {
            conditions.append("lease_owner = ?")
            arguments += [owner]
        }
        if let ids = params.requestIDs {
            guard !ids.isEmpty else { return }
            conditions.append("request_id IN (\(Array(repeating: "?", count: ids.count).joined(separator: ", ")))")
            arguments += StatementArguments(ids)
        }
        let sql = "UPDATE webhook_deliveries SET lease_owner = NULL, lease_expires_at = NULL WHERE \(conditions.joined(separator: " AND "))"
        let finalArguments = arguments
        try await write { db in try db.execute(sql: sql, arguments: finalArguments) }
    }

    public func webhookGet(requestID: String) async throws -> WebhookDelivery? {
        try await pool.unsafeRead { db in
            try db.cachedStatement(sql: "SELECT \(Self.webhookColumns) FROM webhook_deliveries WHERE request_id = ?")
                .fetchFirst([requestID], as: WebhookDelivery.init(statement:))
        }
    }

    public func webhookCounts() async throws -> [WebhookDeliveryState: Int] {
        let rows = try await pool.unsafeRead { db in
            try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM webhook_deliveries GROUP BY state")
                .map { (String($0["state"] as String? ?? ""), $0["n"] as Int? ?? 0) }
        }
        var counts: [WebhookDeliveryState: Int] = [:]
        for (name, count) in rows {
            guard let state = WebhookDeliveryState(rawValue: name) else { throw StoreError.corrupt("webhook delivery state '\(name)'") }
            counts[state] = count
        }
        return counts
    }
}

extension WebhookDelivery {
    /// Reads a row selected with `SQLiteJobStore.webhookColumns`, by position.
    init(statement s: SQLiteStatement) throws {
        let id = String.fromStatement(s, atUncheckedIndex: 0) ?? ""
        guard let format = String.fromStatement(s, atUncheckedIndex: 4).flatMap(WebhookFormat.init(rawValue:)),
              let state = String.fromStatement(s, atUncheckedIndex: 5).flatMap(WebhookDeliveryState.init(rawValue:)) else {
            throw StoreError.corrupt("webhook delivery of \(id) has an unknown format or state")
        }
        self.init(
            requestID: id, tenant: String.fromStatement(s, atUncheckedIndex: 1) ?? "",
            url: String.fromStatement(s, atUncheckedIndex: 2) ?? "", host: String.fromStatement(s, atUncheckedIndex: 3) ?? "",
            format: format, state: state, attempts: Int.fromStatement(s, atUncheckedIndex: 6) ?? 0,
            nextAttemptAt: Date(unixSeconds: Double.fromStatement(s, atUncheckedIndex: 7)),
            leaseOwner: String.fromStatement(s, atUncheckedIndex: 8),
            leaseExpiresAt: Date(unixSeconds: Double.fromStatement(s, atUncheckedIndex: 9)),
            lastStatus: Int.fromStatement(s, atUncheckedIndex: 10), lastError: String.fromStatement(s, atUncheckedIndex: 11),
            createdAt: Date(unixSeconds: Double.fromStatement(s, atUncheckedIndex: 12) ?? 0),
            finishedAt: Date(unixSeconds: Double.fromStatement(s, atUncheckedIndex: 13)))
    }
}
