import Foundation
import GantryCore
import PostgresNIO

/// Leadership leases in `gantry_leaders`, timed by the database's clock.
extension PostgresJobStore: LeaderElection {
    public func leaderAcquire(name: String, owner: String, duration: TimeInterval) async throws -> Bool {
        try await !rows("""
            INSERT INTO gantry_leaders AS l (name, owner, expires_at)
            VALUES (\(name), \(owner), extract(epoch FROM clock_timestamp()) + \(duration))
            ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
            WHERE l.owner = EXCLUDED.owner OR l.expires_at < extract(epoch FROM clock_timestamp())
            RETURNING 1
            """, "leader").isEmpty
    }

    public func leaderRelease(name: String, owner: String) async throws {
        try await rows("DELETE FROM gantry_leaders WHERE name = \(name) AND owner = \(owner)", "leader release")
    }
}
