import Foundation
import GantryCore
import PostgresNIO

/// The cluster's shared secret files, in `shared_files`.
extension PostgresJobStore: SharedFileStore {
    public func sharedFileGet(name: String) async throws -> Data? {
        try await rows("SELECT content FROM shared_files WHERE name = \(name)", "get shared file").first?.decode(Data.self)
    }

    public func sharedFileInsertIfAbsent(name: String, content: Data) async throws -> Data {
        try await transaction("insert shared file") { connection in
            try await connection.rows("""
                INSERT INTO shared_files (name, content, updated_at) VALUES (\(name), \(content), \(Date().unixSeconds))
                ON CONFLICT (name) DO NOTHING
                """, logger: self.logger)
            guard let stored = try await connection.rows("SELECT content FROM shared_files WHERE name = \(name)", logger: self.logger)
                .first?.decode(Data.self) else { throw StoreError.corrupt("shared file \(name) vanished while being stored") }
            return stored
        }
    }

    public func sharedFileReplace(name: String, expected: Data, content: Data, now: Date) async throws -> Bool {
        try await !rows("""
            UPDATE shared_files SET content = \(content), updated_at = \(now.unixSeconds)
            WHERE name = \(name) AND content = \(expected)
            RETURNING 1
            """, "replace shared file").isEmpty
    }
}
