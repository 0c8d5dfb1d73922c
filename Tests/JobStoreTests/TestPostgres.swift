import Foundation
import GantryPostgres
import Logging

/// The PostgreSQL server of this test run (`GANTRY_TEST_POSTGRES`, from `scripts/pg-server.sh`).
enum TestPostgres {
    static var configured: Bool { ProcessInfo.processInfo.environment["GANTRY_TEST_POSTGRES"] != nil }

    static let logger: Logger = {
        var logger = Logger(label: "postgres-tests")
        logger.logLevel = .critical
        return logger
    }()

    /// Runs `body` with a fresh, empty database, dropped afterwards whether `body` throws or not.
    static func withDatabase(_ body: (DatabaseURL) async throws -> Void) async throws {
        let server = try DatabaseURL(ProcessInfo.processInfo.environment["GANTRY_TEST_POSTGRES"] ?? "")
        let name = "gantry_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await PostgresDatabases.create(name, on: server, logger: logger)
        do {
            try await body(server.with(database: name))
        } catch {
            try? await PostgresDatabases.drop(name, on: server, logger: logger)
            throw error
        }
        try await PostgresDatabases.drop(name, on: server, logger: logger)
    }
}
