import Foundation
import Logging
import PostgresNIO

/// Creating and dropping whole databases on a server: for tests that give each store its own database, and for
/// tooling that prepares one before `gantry migrate`.
public enum PostgresDatabases {
    /// Creates the database `name` (letters, digits and underscores only) on `server`'s cluster.
    public static func create(_ name: String, on server: DatabaseURL, logger: Logger) async throws {
        try await onServer(server, logger: logger, "CREATE DATABASE \(try identifier(name))")
    }

    /// Drops the database `name`, closing its connections first.
    public static func drop(_ name: String, on server: DatabaseURL, logger: Logger) async throws {
        try await onServer(server, logger: logger, "DROP DATABASE IF EXISTS \(try identifier(name)) WITH (FORCE)")
    }

    /// Runs `body` with a fresh, empty database (`PREFIX_<random hex>`) on `server`'s cluster, dropped afterwards
    /// whether `body` throws or not.
    public static func withScratch(on server: DatabaseURL, prefix: String, logger: Logger,
                                   _ body: (DatabaseURL) async throws -> Void) async throws {
        let name = prefix + "_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await create(name, on: server, logger: logger)
        do {
            try await body(server.with(database: name))
        } catch {
            try? await drop(name, on: server, logger: logger)
            throw error
        }
        try await drop(name, on: server, logger: logger)
    }

    private static func identifier(_ name: String) throws -> String {
        guard !name.isEmpty, name.count <= 63, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw PostgresDatabaseNameError(name: name)
        }
        return name
    }

    /// One statement through a short-lived client of `server`'s own database.
    private static func onServer(_ server: DatabaseURL, logger: Logger, _ sql: String) async throws {
        let client = PostgresClient(configuration: try server.clientConfiguration(maximumConnections: 1), backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        }
    }
}

/// A database name that is not a plain identifier.
public struct PostgresDatabaseNameError: Error, CustomStringConvertible {
    public let name: String
    public var description: String { "\(name) is not a database name of letters, digits and underscores" }
}
