import Foundation
import GantryCore

/// Everything `gantry serve` can be told, read once at the edge (flags, then `GANTRY_*` variables, then defaults)
/// and handed down as a value.
///
/// | key | type | default |
/// |---|---|---|
/// | `host` | bind address | `127.0.0.1` |
/// | `port` | TCP port (0 picks one) | `8080` |
/// | `dataDirectory` | SQLite file and local file store | `./gantry-data` |
/// | `publicURL` | base of the URLs the host hands out | derived from the bound address |
/// | `functionsDirectory` / `schemasDirectory` | manifests and JSON Schemas | `./functions`, `./schemas` |
/// | `tlsCertificatePath` / `tlsKeyPath` | PEM files; both or neither | none (plain HTTP) |
/// | `allowEgress` | CIDR ranges inputs may be fetched from despite the egress policy | none |
/// | `apiKeys` | accepted `Authorization: Key` tokens | none (only allowed on loopback binds) |
/// | `queuePrefix` / `runPrefix` | path prefixes of fal's queue and run surfaces | `/queue`, empty |
/// | `maxBodyBytes` | request body limit | 80 MiB |
/// | `store` | where requests live | SQLite in the data directory |
public struct ServerConfiguration: Sendable {
    /// Where requests are stored.
    public enum StoreKind: Sendable, Equatable {
        /// `<dataDirectory>/gantry.sqlite`.
        case sqlite
        /// In memory: nothing survives a restart (tests, `gantry run`).
        case memory
    }

    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    public var dataDirectory: String = "./gantry-data"
    public var publicURL: String?
    public var functionsDirectory: String = "./functions"
    public var schemasDirectory: String = "./schemas"
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    public var allowEgress: [String] = []
    public var apiKeys: [APIKey] = []
    public var queuePrefix: String = "/queue"
    public var runPrefix: String = ""
    public var maxBodyBytes: Int = 80 * 1024 * 1024
    public var store: StoreKind = .sqlite
    public var dispatcher = DispatcherConfiguration()

    public init() {}

    /// Whether the bind address is loopback only.
    public var isLoopbackBind: Bool {
        ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host) || host.hasPrefix("127.")
    }

    /// Checks the combination of values; the message names the offending setting.
    public func validate() throws {
        if !isLoopbackBind && apiKeys.isEmpty {
            throw ConfigurationError("refusing to serve on \(host) without API keys: set --api-keys-file or GANTRY_API_KEYS, or bind to 127.0.0.1")
        }
        if (tlsCertificatePath == nil) != (tlsKeyPath == nil) {
            throw ConfigurationError("--tls-cert and --tls-key must be given together")
        }
        if !(0...65_535).contains(port) { throw ConfigurationError("--port must be 0...65535") }
        if let publicURL, !(publicURL.hasPrefix("http://") || publicURL.hasPrefix("https://")) {
            throw ConfigurationError("--public-url must start with http:// or https://")
        }
        for prefix in [queuePrefix, runPrefix] where !prefix.isEmpty && (!prefix.hasPrefix("/") || prefix.hasSuffix("/")) {
            throw ConfigurationError("path prefixes must start with / and not end with / (got \(prefix))")
        }
        if queuePrefix == runPrefix { throw ConfigurationError("the queue and run prefixes must differ") }
        if maxBodyBytes < 1_024 { throw ConfigurationError("maxBodyBytes must be at least 1024") }
        try dispatcher.validate()
    }

    /// The base URL derived from the bind address and the actual port.
    func derivedPublicURL(port actualPort: Int) -> String {
        let scheme = tlsCertificatePath == nil ? "http" : "https"
        var hostPart = host
        if hostPart == "0.0.0.0" || hostPart == "::" { hostPart = "127.0.0.1" }
        if hostPart.contains(":") && !hostPart.hasPrefix("[") { hostPart = "[\(hostPart)]" }
        return "\(scheme)://\(hostPart):\(actualPort)"
    }
}
