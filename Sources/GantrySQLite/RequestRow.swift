import Foundation
import GantryCore
import GRDB

/// Mapping between `requests` rows and `RequestRecord`. Dates are stored as REAL unix seconds.
enum RequestRow {
    /// The columns `RequestRecord.init(statement:)` reads, by position, for SELECT and RETURNING clauses.
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
    /// Reads a row selected with `RequestRow.columns`, by column index: GRDB's `Row` would build a dictionary of
    /// the 22 lowercased column names on every fetch, and look each name up again, for a record read ~10×/s per
    /// polled request.
    init(statement s: SQLiteStatement) throws {
        let id: String = try column(s, 0, "id")
        let priorityValue: Int = try column(s, 5, "priority")
        guard let priority = RequestPriority(rawValue: priorityValue) else {
            throw StoreError.corrupt("request \(id) has unknown priority \(priorityValue)")
        }
        let resultStatus = Int.fromStatement(s, atUncheckedIndex: 16)
        let resultBody = Data.fromStatement(s, atUncheckedIndex: 17)
        self.init(
            id: id,
            tenant: try column(s, 1, "tenant"),
            functionID: try column(s, 2, "function_id"),
            input: Data.fromStatement(s, atUncheckedIndex: 3) ?? Data(),
            state: try RequestRow.state(column(s, 4, "state"), of: id),
            priority: priority,
            attempt: try column(s, 6, "attempt"),
            maxAttempts: try column(s, 7, "max_attempts"),
            createdAt: Date(unixSeconds: try column(s, 8, "created_at") as Double),
            startedAt: Date(unixSeconds: Double.fromStatement(s, atUncheckedIndex: 9)),
            finishedAt: Date(unixSeconds: Double.fromStatement(s, atUncheckedIndex: 10)),
            startDeadline: Date(unixSeconds: Double.fromStatement(s, atUncheckedIndex: 11)),
            leaseOwner: String.fromStatement(s, atUncheckedIndex: 12),
            leaseExpiresAt: Date(unixSeconds: Double.fromStatement(s, atUncheckedIndex: 13)),
            cancelRequested: try column(s, 14, "cancel_requested"),
            webhookURL: String.fromStatement(s, atUncheckedIndex: 15),
            // SQLite hands an empty BLOB back as NULL, so the body alone cannot tell "no result" apart.
            result: resultStatus.map { RequestResult(status: $0, body: resultBody ?? Data()) },
            errorMessage: String.fromStatement(s, atUncheckedIndex: 18),
            errorType: String.fromStatement(s, atUncheckedIndex: 19),
            progress: Double.fromStatement(s, atUncheckedIndex: 20),
            inferenceTime: Double.fromStatement(s, atUncheckedIndex: 21))
    }
}

extension LogEntry {
    /// The columns `LogEntry.init(statement:)` reads.
    static let columns = "timestamp, level, message, source"

    /// Reads a `request_logs` row selected with `LogEntry.columns`.
    init(statement s: SQLiteStatement) throws {
        let levelName: String = try column(s, 1, "level")
        guard let level = Level(rawValue: levelName) else {
            throw StoreError.corrupt("log line has unknown level '\(levelName)'")
        }
        self.init(
            message: try column(s, 2, "message"), level: level, source: try column(s, 3, "source"),
            timestamp: Date(unixSeconds: try column(s, 0, "timestamp") as Double))
    }
}

/// A NOT NULL column of the current row.
@inline(__always)
private func column<T: StatementColumnConvertible>(_ s: SQLiteStatement, _ index: CInt, _ name: String) throws -> T {
    guard let value = T.fromStatement(s, atUncheckedIndex: index) else {
        throw StoreError.corrupt("column \(name) is NULL")
    }
    return value
}

extension Statement {
    /// Runs the statement with `arguments` and decodes every row it yields, straight from the SQLite statement.
    ///
    /// The statement always runs to completion, even when a row fails to decode, so it never stays busy: a busy
    /// SELECT outside an explicit transaction would keep its read transaction (and WAL snapshot) open. A statement
    /// whose step fails is dropped from GRDB's statement cache, so a cached one is never reused in an error state.
    func fetchAll<T>(_ arguments: StatementArguments, as decode: (SQLiteStatement) throws -> T) throws -> [T] {
        try setArguments(arguments)
        var rows: [T] = []
        var firstError: (any Error)?
        try withoutActuallyEscaping(decode) { decode in
            let cursor = DecodingCursor(statement: self) { s -> T? in
                do {
                    return try decode(s)
                } catch {
                    if firstError == nil { firstError = error }
                    return nil
                }
            }
            while let row = try cursor.next() {
                if let row { rows.append(row) }
            }
        }
        if let firstError { throw firstError }
        return rows
    }

    /// The first row `fetchAll` would return, or nil.
    func fetchFirst<T>(_ arguments: StatementArguments, as decode: (SQLiteStatement) throws -> T) throws -> T? {
        try fetchAll(arguments, as: decode).first
    }
}

/// GRDB's cursor protocol over a statement whose arguments are already set; `next()` steps it.
private final class DecodingCursor<Element>: DatabaseCursor {
    let _statement: Statement
    var _isDone = false
    private let decode: (SQLiteStatement) -> Element

    init(statement: Statement, decode: @escaping (SQLiteStatement) -> Element) {
        _statement = statement
        self.decode = decode
    }

    func _element(sqliteStatement: SQLiteStatement) -> Element { decode(sqliteStatement) }
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
