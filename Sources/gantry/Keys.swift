import ArgumentParser
import Foundation
import GantryCore
import GantryPostgres
import Logging
import Signing

/// `gantry keys`: the webhook signing keys of a data directory, or of a cluster (`--database-url`: the copy every
/// node mirrors, see `SharedFilesSync`). A running host picks changes up within a second (a cluster node within
/// about six).
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, rotate and retire the webhook signing keys (published at /.well-known/jwks.json).",
        subcommands: [List.self, Rotate.self, Retire.self], defaultSubcommand: List.self)

    struct KeySource: ParsableArguments {
        @Option(help: "Data directory holding webhook-keys.json (env GANTRY_DATA_DIR).")
        var dataDir: String = ProcessInfo.processInfo.environment["GANTRY_DATA_DIR"] ?? "./gantry-data"
        @Option(help: "A cluster's PostgreSQL database: change the keys every node uses (env GANTRY_DATABASE_URL).")
        var databaseURL: String? = ProcessInfo.processInfo.environment["GANTRY_DATABASE_URL"]

        /// Runs `body` on the key file: the data directory's, or a scratch copy of the cluster's, stored back when
        /// `body` changed it.
        func withKeyFile<T>(_ body: (URL) throws -> T) async throws -> T {
            guard let databaseURL else {
                return try wrap { try body(URL(fileURLWithPath: dataDir).appendingPathComponent("webhook-keys.json")) }
            }
            var logger = Logger(label: "gantry")
            logger.logLevel = .error  // failures surface as thrown errors
            let url: DatabaseURL
            do { url = try DatabaseURL(databaseURL) } catch let error as ConfigurationError { throw ValidationError(error.message) }
            let store = try await PostgresJobStore.open(url: url, maximumConnections: 1, logger: logger)
            defer { store.close() }
            guard let stored = try await store.sharedFileGet(name: "webhook-keys.json") else {
                throw ValidationError("the cluster has no webhook keys yet: they are made when its first node starts")
            }
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("gantry-keys-\(UUID.secureRandom().lowercasedString)")
            defer { try? FileManager.default.removeItem(at: scratch) }
            try SecretFile.write(stored, to: scratch)
            let result = try wrap { try body(scratch) }
            if let changed = FileManager.default.contents(atPath: scratch.path), changed != stored,
               try await !store.sharedFileReplace(name: "webhook-keys.json", expected: stored, content: changed, now: Date()) {
                throw ValidationError("the cluster's keys changed while this command ran (another `gantry keys`?): nothing was written; run it again")
            }
            return result
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print each key: id, creation, when it signs from, and which signs now.")
        @OptionGroup var options: KeySource

        func run() async throws {
            let entries = try await options.withKeyFile { try SigningKeyRing.read($0) }
            let now = Date().timeIntervalSince1970
            let active = entries.filter { $0.signsFrom <= now }.max { $0.signsFrom < $1.signsFrom }?.kid
            for entry in entries {
                let created = Date(timeIntervalSince1970: entry.createdAt).formatted(.iso8601)
                let signsFrom = Date(timeIntervalSince1970: entry.signsFrom).formatted(.iso8601)
                print("\(entry.kid)\tcreated \(created)\tsigns from \(signsFrom)\(entry.kid == active ? "\tsigning" : "")")
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a new key; it signs after --delay seconds, and the old keys stay published until retired.")
        @OptionGroup var options: KeySource
        @Option(help: "Seconds before the new key starts signing (give receivers' JWKS caches time to see it).")
        var delay: Double = 0

        func run() async throws {
            let entry = try await options.withKeyFile { try SigningKeyRing.rotate(fileAt: $0, delay: delay) }
            print(entry.kid)
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a key from the JWKS (not the one that signs now).")
        @OptionGroup var options: KeySource
        @Argument(help: "The key id (kid) to retire.") var kid: String

        func run() async throws {
            try await options.withKeyFile { try SigningKeyRing.retire(fileAt: $0, kid: kid) }
            print("retired \(kid)")
        }
    }
}

/// Turns a key-file error into a clean CLI failure.
private func wrap<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as SigningError {
        throw ValidationError(error.message)
    }
}
