import Foundation
import GantryCore
import PostgresNIO

/// Reading rows back into the store's records, by column position (the column lists match the SQLite store's).
enum PostgresRows {
    static let requestColumns = """
        id, tenant, function_id, input, state, priority, attempt, max_attempts, created_at, started_at, \
        finished_at, start_deadline, lease_owner, lease_expires_at, cancel_requested, webhook_url, result_status, \
        result_body, error_message, error_type, progress, inference_time
        """

    static let webhookColumns = """
        request_id, tenant, url, host, format, state, attempts, next_attempt_at, lease_owner, lease_expires_at, \
        last_status, last_error, created_at, finished_at
        """

    static let logColumns = "\"timestamp\", level, message, source"

    static func request(_ row: PostgresRow) throws -> RequestRecord {
        let r = row.makeRandomAccess()
        let id: String = try r.required(0, "id")
        let stateName: String = try r.required(4, "state")
        guard let state = RequestState(rawValue: stateName) else { throw StoreError.corrupt("request \(id) has unknown state '\(stateName)'") }
        let priorityValue: Int = try r.required(5, "priority")
        guard let priority = RequestPriority(rawValue: priorityValue) else {
            throw StoreError.corrupt("request \(id) has unknown priority \(priorityValue)")
        }
        let resultStatus: Int? = try r.optional(16)
        let resultBody: Data? = try r.optional(17)
        return RequestRecord(
            id: id, tenant: try r.required(1, "tenant"), functionID: try r.required(2, "function_id"),
            input: try r.optional(3) ?? Data(), state: state, priority: priority,
            attempt: try r.required(6, "attempt"), maxAttempts: try r.required(7, "max_attempts"),
            createdAt: Date(timeIntervalSince1970: try r.required(8, "created_at")),
            startedAt: try r.date(9), finishedAt: try r.date(10), startDeadline: try r.date(11),
            leaseOwner: try r.optional(12), leaseExpiresAt: try r.date(13),
            cancelRequested: try r.required(14, "cancel_requested"), webhookURL: try r.optional(15),
            result: resultStatus.map { RequestResult(status: $0, body: resultBody ?? Data()) },
            errorMessage: try r.optional(18), errorType: try r.optional(19),
            progress: try r.optional(20), inferenceTime: try r.optional(21))
    }

    static func webhook(_ row: PostgresRow) throws -> WebhookDelivery {
        let r = row.makeRandomAccess()
        let id: String = try r.required(0, "request_id")
        guard let format = WebhookFormat(rawValue: try r.required(4, "format")),
              let state = WebhookDeliveryState(rawValue: try r.required(5, "state")) else {
            throw StoreError.corrupt("webhook delivery of \(id) has an unknown format or state")
        }
        return WebhookDelivery(
            requestID: id, tenant: try r.required(1, "tenant"), url: try r.required(2, "url"), host: try r.required(3, "host"),
            format: format, state: state, attempts: try r.required(6, "attempts"), nextAttemptAt: try r.date(7),
            leaseOwner: try r.optional(8), leaseExpiresAt: try r.date(9), lastStatus: try r.optional(10),
            lastError: try r.optional(11), createdAt: Date(timeIntervalSince1970: try r.required(12, "created_at")),
            finishedAt: try r.date(13))
    }

    static func log(_ row: PostgresRow) throws -> LogEntry {
        let r = row.makeRandomAccess()
        let levelName: String = try r.required(1, "level")
        guard let level = LogEntry.Level(rawValue: levelName) else { throw StoreError.corrupt("log line has unknown level '\(levelName)'") }
        return LogEntry(message: try r.required(2, "message"), level: level, source: try r.required(3, "source"),
                        timestamp: Date(timeIntervalSince1970: try r.required(0, "timestamp")))
    }
}

extension PostgresRandomAccessRow {
    /// A NOT NULL column.
    func required<T: PostgresDecodable>(_ index: Int, _ name: String) throws -> T where T._DecodableType == T {
        guard let value = try self[index].decode(T?.self) else { throw StoreError.corrupt("column \(name) is NULL") }
        return value
    }

    func optional<T: PostgresDecodable>(_ index: Int) throws -> T? where T._DecodableType == T {
        try self[index].decode(T?.self)
    }

    /// An instant stored as unix seconds, or nil.
    func date(_ index: Int) throws -> Date? {
        (try optional(index) as Double?).map(Date.init(timeIntervalSince1970:))
    }
}

extension Date {
    /// The instant as stored: unix seconds in a `double precision` column.
    var unixSeconds: Double { timeIntervalSince1970 }
}
