import ArgumentParser
import Foundation
import Signing

/// `gantry keys`: the webhook signing keys in a data directory. A running host picks changes up within a second.
struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, rotate and retire the webhook signing keys (published at /.well-known/jwks.json).",
        subcommands: [List.self, Rotate.self, Retire.self], defaultSubcommand: List.self)

    struct DataDirectory: ParsableArguments {
        @Option(help: "Data directory holding webhook-keys.json (env GANTRY_DATA_DIR).")
        var dataDir: String = ProcessInfo.processInfo.environment["GANTRY_DATA_DIR"] ?? "./gantry-data"

        var keyFile: URL { URL(fileURLWithPath: dataDir).appendingPathComponent("webhook-keys.json") }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print each key: id, creation, when it signs from, and which signs now.")
        @OptionGroup var options: DataDirectory

        func run() throws {
            let entries = try wrap { try SigningKeyRing.read(options.keyFile) }
            let now = Date().timeIntervalSince1970
            let active = entries.filter { $0.signsFrom <= now }.max { $0.signsFrom < $1.signsFrom }?.kid
            for entry in entries {
                let created = Date(timeIntervalSince1970: entry.createdAt).formatted(.iso8601)
                let signsFrom = Date(timeIntervalSince1970: entry.signsFrom).formatted(.iso8601)
                print("\(entry.kid)\tcreated \(created)\tsigns from \(signsFrom)\(entry.kid == active ? "\tsigning" : "")")
            }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a new key; it signs after --delay seconds, and the old keys stay published until retired.")
        @OptionGroup var options: DataDirectory
        @Option(help: "Seconds before the new key starts signing (give receivers' JWKS caches time to see it).")
        var delay: Double = 0

        func run() throws {
            let entry = try wrap { try SigningKeyRing.rotate(fileAt: options.keyFile, delay: delay) }
            print(entry.kid)
        }
    }

    struct Retire: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a key from the JWKS (not the one that signs now).")
        @OptionGroup var options: DataDirectory
        @Argument(help: "The key id (kid) to retire.") var kid: String

        func run() throws {
            try wrap { try SigningKeyRing.retire(fileAt: options.keyFile, kid: kid) }
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
