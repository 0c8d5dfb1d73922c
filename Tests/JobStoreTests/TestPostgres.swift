import Foundation
import GantryPostgres
import Logging
import PostgresNIO

/// The PostgreSQL server of this test run (`GANTRY_TEST_POSTGRES`, from `scripts/pg-server.sh`).
enum TestPostgres {
    static var configured: Bool { ProcessInfo.processInfo.environment["GANTRY_TEST_POSTGRES"] != nil }

    static let logger: Logger = {
        var logger = Logger(label: "postgres-tests")
        logger.logLevel = .critical
        return logger
    }()

    /// The server's URL (its `postgres` database, which tests only use to make and drop their own).
    static func serverURL() throws -> DatabaseURL {
        let text = ProcessInfo.processInfo.environment["GANTRY_TEST_POSTGRES"] ?? ""
        return try DatabaseURL(text.contains("?") ? text : text + "?sslmode=disable")
    }

    /// Runs `body` with a fresh, empty database, dropped afterwards whether `body` throws or not.
    static func withDatabase(_ body: (DatabaseURL) async throws -> Void) async throws {
        let server = try serverURL()
        let name = "gantry_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await admin(server) { client in
            try await client.query("CREATE DATABASE \(unescaped: name)", logger: logger)
        }
        do {
            try await body(server.with(database: name))
        } catch {
            try? await drop(name, server)
            throw error
        }
        try await drop(name, server)
    }

    private static func drop(_ name: String, _ server: DatabaseURL) async throws {
        try await admin(server) { client in
            try await client.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: logger)
        }
    }

    /// A short-lived client of the server's `postgres` database.
    private static func admin(_ server: DatabaseURL, _ body: @escaping @Sendable (PostgresClient) async throws -> Void) async throws {
        let client = PostgresClient(configuration: .init(host: server.host, port: server.port, username: server.username,
                                                         password: server.password, database: server.database, tls: .disable),
                                    backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await body(client)
        }
    }
}
