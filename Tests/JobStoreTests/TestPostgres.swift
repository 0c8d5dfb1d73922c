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
        try await PostgresDatabases.withScratch(on: server, prefix: "gantry_test", logger: logger, body)
    }
}
