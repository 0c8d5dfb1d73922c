import Foundation
import GantryCore
import PostgresNIO

/// Runner function registrations and the running-set query.
extension PostgresJobStore {
    public func functionRegistrationUpsert(_ registration: FunctionRegistration) async throws -> Bool {
        try await transaction("register function") { connection in
            let previous = try await connection.rows("""
                SELECT declaration FROM function_registrations WHERE function_id = \(registration.functionID) FOR UPDATE
                """, logger: self.logger).first.map { try $0.decode(Data.self) }
            try await connection.rows("""
                INSERT INTO function_registrations (function_id, declaration, registered_by, updated_at)
                VALUES (\(registration.functionID), \(registration.declaration), \(registration.registeredBy), \(registration.updatedAt.unixSeconds))
                ON CONFLICT (function_id) DO UPDATE
                SET declaration = EXCLUDED.declaration, registered_by = EXCLUDED.registered_by, updated_at = EXCLUDED.updated_at
                """, logger: self.logger)
            return previous != registration.declaration
        }
    }

    public func functionRegistrationList() async throws -> [FunctionRegistration] {
        try await rows("""
            SELECT function_id, declaration, registered_by, updated_at FROM function_registrations ORDER BY function_id
            """, "list registrations").map { row in
            let (id, declaration, by, updated) = try row.decode((String, Data, String, Double).self)
            return FunctionRegistration(functionID: id, declaration: declaration, registeredBy: by, updatedAt: Date(timeIntervalSince1970: updated))
        }
    }

    public func functionRegistrationDelete(functionID: String) async throws -> Bool {
        try await !rows("DELETE FROM function_registrations WHERE function_id = \(functionID) RETURNING 1", "delete registration").isEmpty
    }

    public func requestListRunning(functionIDs: [String]) async throws -> [RunningAttempt] {
        try await rows("""
            SELECT id, tenant, function_id, attempt, lease_owner, started_at, cancel_requested FROM requests
            WHERE state = 'running' AND lease_expires_at IS NOT NULL AND function_id = ANY(\(functionIDs))
            ORDER BY seq
            """, "list running").map { row in
            let r = row.makeRandomAccess()
            return RunningAttempt(id: try r.required(0, "id"), tenant: try r.required(1, "tenant"), functionID: try r.required(2, "function_id"),
                                  attempt: try r.required(3, "attempt"), leaseOwner: try r.optional(4), startedAt: try r.date(5),
                                  cancelRequested: try r.required(6, "cancel_requested"))
        }
    }
}
