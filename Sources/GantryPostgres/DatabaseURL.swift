import Foundation
import GantryCore
import NIOSSL
import PostgresNIO

/// `--database-url postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=disable|prefer|require|verify-full`, as libpq
/// writes it.
public struct DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    /// `disable`, `prefer` (the default, as in libpq), `require` or `verify-full`.
    public var sslMode: String

    /// The URL without its password, for logs.
    public var description: String { "postgres://\(username)@\(host):\(port)/\(database)?sslmode=\(sslMode)" }

    public init(_ text: String) throws {
        guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? "") else {
            throw ConfigurationError("--database-url must look like postgres://USER:PASSWORD@HOST:PORT/DATABASE")
        }
        guard let host = url.host, !host.isEmpty else { throw ConfigurationError("--database-url names no host") }
        guard let user = url.percentEncodedUser, !user.isEmpty else { throw ConfigurationError("--database-url names no user") }
        let database = String(url.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw ConfigurationError("--database-url names no database (…/DATABASE)") }
        var mode = "prefer"
        for item in url.queryItems ?? [] {
            guard item.name == "sslmode" else { throw ConfigurationError("--database-url: unknown option \(item.name) (known: sslmode)") }
            guard let value = item.value, ["disable", "prefer", "require", "verify-full"].contains(value) else {
                throw ConfigurationError("--database-url: sslmode must be disable, prefer, require or verify-full")
            }
            mode = value
        }
        self.host = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        port = url.port ?? 5432
        username = user.removingPercentEncoding ?? user
        password = url.percentEncodedPassword.map { $0.removingPercentEncoding ?? $0 }
        self.database = database.removingPercentEncoding ?? database
        sslMode = mode
    }

    /// This URL with another database name (tests make one database per store).
    public func with(database: String) -> DatabaseURL {
        var copy = self
        copy.database = database
        return copy
    }

    /// postgres-nio's client configuration for this URL. `statementTimeout` is also set on the server for every
    /// connection, with a lock timeout and an idle-in-transaction timeout, so a statement or transaction that a
    /// cut-off client abandoned is ended by the server rather than holding its locks.
    func clientConfiguration(maximumConnections: Int, statementTimeout: Duration = .seconds(30)) throws -> PostgresClient.Configuration {
        // As libpq: `prefer` and `require` encrypt without checking the certificate (self-signed server certificates
        // are the norm); `verify-full` checks the chain and the host name.
        var unverified = TLSConfiguration.makeClientConfiguration()
        unverified.certificateVerification = .none
        let tls: PostgresClient.Configuration.TLS = switch sslMode {
        case "disable": .disable
        case "require": .require(unverified)
        case "verify-full": .require(.makeClientConfiguration())
        default: .prefer(unverified)
        }
        var configuration = PostgresClient.Configuration(host: host, port: port, username: username, password: password,
                                                         database: database, tls: tls)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(5)
        let milliseconds = statementTimeout.components.seconds * 1000
        configuration.options.additionalStartupParameters = [
            ("statement_timeout", "\(milliseconds)"), ("lock_timeout", "\(milliseconds)"),
            ("idle_in_transaction_session_timeout", "\(milliseconds * 2)"),
        ]
        return configuration
    }
}
