import Foundation
import GantryCore
import GRDB

/// Runner function registrations and the running-set query.
extension SQLiteJobStore {
    static let registrationGetSQL = "SELECT declaration FROM function_registrations WHERE function_id = ?"
    static let registrationUpsertSQL = """
        INSERT INTO function_registrations (function_id, declaration, registered_by, updated_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (function_id) DO UPDATE
        SET declaration = excluded.declaration, registered_by = excluded.registered_by, updated_at = excluded.updated_at
        """

    public func functionRegistrationUpsert(_ registration: FunctionRegistration) async throws -> Bool {
        let arguments: StatementArguments = [
            registration.functionID, registration.declaration, registration.registeredBy, registration.updatedAt.unixSeconds,
        ]
        let id = registration.functionID
        let declaration = registration.declaration
        return try await write { db in
            let previous = try Data.fetchOne(db.cachedStatement(sql: Self.registrationGetSQL), arguments: [id])
            try db.cachedStatement(sql: Self.registrationUpsertSQL).execute(arguments: arguments)
            return previous != declaration
        }
    }

    static let registrationListSQL = """
        SELECT function_id, declaration, registered_by, updated_at FROM function_registrations ORDER BY function_id
        """

    public func functionRegistrationList() async throws -> [FunctionRegistration] {
        try await pool.unsafeRead { db in
            try db.cachedStatement(sql: Self.registrationListSQL).fetchAll([]) { s in
                guard let id = String.fromStatement(s, atUncheckedIndex: 0), let declaration = Data.fromStatement(s, atUncheckedIndex: 1),
                      let by = String.fromStatement(s, atUncheckedIndex: 2), let updated = Double.fromStatement(s, atUncheckedIndex: 3)
                else { throw StoreError.corrupt("a function registration has a NULL column") }
                return FunctionRegistration(functionID: id, declaration: declaration, registeredBy: by, updatedAt: Date(unixSeconds: updated))
            }
        }
    }

    public func functionRegistrationDelete(functionID: String) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM function_registrations WHERE function_id = ?", arguments: [functionID])
            return db.changesCount == 1
        }
    }

    /// Through the rescue index (running rows only), then filtered: the running set is bounded by the claims.
    static let runningSQL = """
        SELECT seq, id, tenant, function_id, attempt, lease_owner, started_at, cancel_requested
        FROM requests WHERE state = 'running' AND lease_expires_at IS NOT NULL
        """

    public func requestListRunning(functionIDs: [String]) async throws -> [RunningAttempt] {
        let wanted = Set(functionIDs)
        let rows = try await pool.unsafeRead { db in
            try db.cachedStatement(sql: Self.runningSQL).fetchAll([]) { s -> (Int64, RunningAttempt) in
                guard let id = String.fromStatement(s, atUncheckedIndex: 1), let tenant = String.fromStatement(s, atUncheckedIndex: 2),
                      let function = String.fromStatement(s, atUncheckedIndex: 3), let attempt = Int.fromStatement(s, atUncheckedIndex: 4)
                else { throw StoreError.corrupt("a running request has a NULL column") }
                return (Int64.fromStatement(s, atUncheckedIndex: 0) ?? 0, RunningAttempt(
                    id: id, tenant: tenant, functionID: function, attempt: attempt, leaseOwner: String.fromStatement(s, atUncheckedIndex: 5),
                    startedAt: Date(unixSeconds: Double.fromStatement(s, atUncheckedIndex: 6)),
                    cancelRequested: Bool.fromStatement(s, atUncheckedIndex: 7) ?? false))
            }
        }
        return rows.filter { wanted.contains($0.1.functionID) }.sorted { $0.0 < $1.0 }.map(\.1)
    }
}
