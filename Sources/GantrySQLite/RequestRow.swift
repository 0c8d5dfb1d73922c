import Foundation
import GantryCore
import GRDB

/// Mapping between `requests` rows and `RequestRecord`. Dates are stored as REAL unix seconds.
enum RequestRow {
    /// The columns `RequestRecord.init(row:)` reads, for SELECT and RETURNING clauses.
    static let columns = """
        id, tenant, function_id, input, state, priority, attempt, max_attempts, created_at, started_at, \
        finished_at, start_deadline, lease_owner, lease_expires_at, cancel_requested, webhook_url, result_status, \
        result_body, error_message, error_type, progress, inference_time
        """

    /// The SQL literal list of terminal states, for the queries that must never touch live requests.
    static let terminalStates = RequestState.allCases.filter(\.isTerminal).map { "'\($0.rawValue)'" }
        .joined(separator: ", ")

    /// Parses a stored state, rejecting anything the enum does not know (the CHECK should make that impossible).
    static func state(_ name: String, of id: String) throws -> RequestState {
        guard let state = RequestState(rawValue: name) else {
            throw StoreError.corrupt("request \(id) has unknown state '\(name)'")
        }
        return state
    }
}

extension RequestRecord {
    /// Reads a row selected with `RequestRow.columns`.
    init(row: Row) throws {
        let id: String = try row.decode(forColumn: "id")
        let priorityValue: Int = try row.decode(forColumn: "priority")
        guard let priority = RequestPriority(rawValue: priorityValue) else {
            throw StoreError.corrupt("request \(id) has unknown priority \(priorityValue)")
        }
        let resultStatus: Int? = try row.decode(forColumn: "result_status")
        let resultBody: Data? = try row.decode(forColumn: "result_body")
        self.init(
            id: id,
            tenant: try row.decode(forColumn: "tenant"),
            functionID: try row.decode(forColumn: "function_id"),
            input: try row.decode(Data?.self, forColumn: "input") ?? Data(),
            state: try RequestRow.state(row.decode(forColumn: "state"), of: id),
            priority: priority,
            attempt: try row.decode(forColumn: "attempt"),
            maxAttempts: try row.decode(forColumn: "max_attempts"),
            createdAt: Date(unixSeconds: try row.decode(Double.self, forColumn: "created_at")),
            startedAt: try Date(unixSeconds: row.decode(Double?.self, forColumn: "started_at")),
            finishedAt: try Date(unixSeconds: row.decode(Double?.self, forColumn: "finished_at")),
            startDeadline: try Date(unixSeconds: row.decode(Double?.self, forColumn: "start_deadline")),
            leaseOwner: try row.decode(forColumn: "lease_owner"),
            leaseExpiresAt: try Date(unixSeconds: row.decode(Double?.self, forColumn: "lease_expires_at")),
            cancelRequested: try row.decode(forColumn: "cancel_requested"),
            webhookURL: try row.decode(forColumn: "webhook_url"),
            // SQLite hands an empty BLOB back as NULL, so the body alone cannot tell "no result" apart.
            result: resultStatus.map { RequestResult(status: $0, body: resultBody ?? Data()) },
            errorMessage: try row.decode(forColumn: "error_message"),
            errorType: try row.decode(forColumn: "error_type"),
            progress: try row.decode(forColumn: "progress"),
            inferenceTime: try row.decode(forColumn: "inference_time"))
    }
}

extension LogEntry {
    /// Reads a `request_logs` row.
    init(row: Row) throws {
        let levelName: String = try row.decode(forColumn: "level")
        guard let level = Level(rawValue: levelName) else {
            throw StoreError.corrupt("log line has unknown level '\(levelName)'")
        }
        self.init(
            message: try row.decode(forColumn: "message"), level: level, source: try row.decode(forColumn: "source"),
            timestamp: Date(unixSeconds: try row.decode(Double.self, forColumn: "timestamp")))
    }
}

extension Date {
    /// The instant as stored: REAL seconds since 1970, which keeps well under a microsecond of precision.
    var unixSeconds: Double { timeIntervalSince1970 }

    init(unixSeconds: Double) { self.init(timeIntervalSince1970: unixSeconds) }

    init?(unixSeconds: Double?) {
        guard let unixSeconds else { return nil }
        self.init(timeIntervalSince1970: unixSeconds)
    }
}
