import Foundation
import GantryCore
import PostgresNIO

/// The webhook outbox. Rows are inserted with their request and made due by the `requests_webhook_due` trigger; here
/// they are claimed with a lease (so each is sent by one node at a time, and a node that dies mid-attempt leaves it
/// to another once the lease expires), recorded and released, each write guarded like the requests'.
extension PostgresJobStore {
    public func webhookClaimDue(_ params: WebhookClaimParams) async throws -> [WebhookDelivery] {
        guard params.limit > 0 else { return [] }
        let now = params.now.unixSeconds
        let expires = params.now.addingTimeInterval(params.leaseDuration).unixSeconds
        let excluded = Array(params.excludingHosts)
        let claimed = try await rows("""
            WITH due AS (
                SELECT request_id FROM webhook_deliveries
                WHERE state = 'pending' AND next_attempt_at <= \(now) AND (lease_expires_at IS NULL OR lease_expires_at < \(now))
                    AND NOT (host = ANY(\(excluded)))
                ORDER BY next_attempt_at, request_id LIMIT \(params.limit)
                FOR UPDATE SKIP LOCKED)
            UPDATE webhook_deliveries AS w SET lease_owner = \(params.owner), lease_expires_at = \(expires)
            FROM due WHERE w.request_id = due.request_id
            RETURNING \(unescaped: PostgresRows.webhookColumns.split(separator: ",").map { "w." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", "))
            """, "claim webhooks").map(PostgresRows.webhook)
        return claimed.sorted { ($0.nextAttemptAt ?? .distantPast, $0.requestID) < ($1.nextAttemptAt ?? .distantPast, $1.requestID) }
    }

    public func webhookRecordAttempt(_ params: WebhookAttemptParams) async throws -> Bool {
        let (state, next, finished): (WebhookDeliveryState, Double?, Double?) = switch params.next {
        case .delivered: (.delivered, nil, params.now.unixSeconds)
        case .failed: (.failed, nil, params.now.unixSeconds)
        case .retry(let at): (.pending, at.unixSeconds, nil)
        }
        return try await transaction("record webhook attempt") { connection in
            let won = try await !connection.rows("""
                UPDATE webhook_deliveries
                SET attempts = \(params.attempt), last_status = \(params.status), last_error = \(params.error), lease_owner = NULL,
                    lease_expires_at = NULL, state = \(state.rawValue), next_attempt_at = \(next), finished_at = \(finished)
                WHERE request_id = \(params.requestID) AND state = 'pending' AND attempts = \(params.attempt - 1)
                    AND lease_owner = \(params.owner)
                RETURNING 1
                """, logger: self.logger).isEmpty
            if won, let log = params.log {
                try await Self.appendLogs(connection, requestID: params.requestID, entries: [log], logger: self.logger)
            }
            return won
        }
    }

    public func webhookRelease(_ params: WebhookReleaseParams) async throws {
        if let ids = params.requestIDs, ids.isEmpty { return }
        // NULL for "any": an owner or id list left out matches every leased row.
        let ids = params.requestIDs
        try await rows("""
            UPDATE webhook_deliveries SET lease_owner = NULL, lease_expires_at = NULL
            WHERE state = 'pending' AND lease_owner IS NOT NULL
                AND (\(params.owner)::text IS NULL OR lease_owner = \(params.owner))
                AND (\(ids == nil) OR request_id = ANY(\(ids ?? [])))
            """, "release webhooks")
    }

    public func webhookGet(requestID: String) async throws -> WebhookDelivery? {
        try await rows("SELECT \(unescaped: PostgresRows.webhookColumns) FROM webhook_deliveries WHERE request_id = \(requestID)",
                       "get webhook").first.map(PostgresRows.webhook)
    }

    public func webhookCounts() async throws -> [WebhookDeliveryState: Int] {
        var counts: [WebhookDeliveryState: Int] = [:]
        for row in try await rows("SELECT state, COUNT(*)::bigint FROM webhook_deliveries GROUP BY state", "webhook counts") {
            let (name, count) = try row.decode((String, Int).self)
            guard let state = WebhookDeliveryState(rawValue: name) else { throw StoreError.corrupt("webhook delivery state '\(name)'") }
            counts[state] = count
        }
        return counts
    }
}
