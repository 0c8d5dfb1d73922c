import ArgumentParser
import Foundation
import GantryCore
import GantryPostgres
import GantrySQLite
import Logging

/// `gantry migrate`: applies the store's schema migrations and exits. `gantry serve` applies them at start too (under
/// an advisory lock on PostgreSQL, so nodes starting together are safe); this runs them as a separate deploy step.
struct Migrate: AsyncParsableCommand {
    private static let env = ProcessInfo.processInfo.environment
    static let configuration = CommandConfiguration(
        abstract: "Apply the request store's migrations: PostgreSQL with --database-url, else the SQLite file in --data-dir.")

    @Option(help: "PostgreSQL database: postgres://USER:PASSWORD@HOST:PORT/DATABASE (env GANTRY_DATABASE_URL).")
    var databaseURL: String? = env["GANTRY_DATABASE_URL"]
    @Option(help: "Data directory holding the SQLite store (env GANTRY_DATA_DIR).")
    var dataDir: String = env["GANTRY_DATA_DIR"] ?? "./gantry-data"

    func run() async throws {
        var logger = Logger(label: "gantry")
        logger.logLevel = .error  // failures surface as thrown errors; the pool's start-up chatter is noise here
        if let databaseURL {
            let url: DatabaseURL
            do { url = try DatabaseURL(databaseURL) } catch let error as ConfigurationError { throw ValidationError(error.message) }
            let applied: Int
            do {
                applied = try await PostgresJobStore.migrate(url: url, logger: logger)
            } catch {
                throw ValidationError("cannot migrate \(url): \(String(reflecting: error))")
            }
            print("\(url): \(applied) migration\(applied == 1 ? "" : "s") applied")
        } else {
            let path = URL(fileURLWithPath: dataDir).appendingPathComponent("gantry.sqlite").path
            let store = try SQLiteJobStore(path: path)
            try store.close()
            print("\(path): up to date")
        }
    }
}
