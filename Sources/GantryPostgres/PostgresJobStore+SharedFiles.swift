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

    public func sharedFilePut(name: String, content: Data, now: Date) async throws {
        try await rows("""
            INSERT INTO shared_files (name, content, updated_at) VALUES (\(name), \(content), \(now.unixSeconds))
            ON CONFLICT (name) DO UPDATE SET content = EXCLUDED.content, updated_at = EXCLUDED.updated_at
            """, "put shared file")
    }
}
