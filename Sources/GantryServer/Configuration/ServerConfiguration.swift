import Foundation
import GantryCore
import GantryPostgres
import GantryS3
import GantrySQLite

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
/// | `store` | where requests live: SQLite in the data directory, memory, or PostgreSQL (`--database-url`) | SQLite |
/// | `fileStore` | where outputs and uploads live | `<dataDirectory>/files` |
/// | `maxUploadBytes` | one upload request body (single upload, signed PUT, each multipart part) | 100 MiB |
/// | `maxMultipartUploadBytes` | a completed multipart upload | 1 GiB |
/// | `uploadTokenTTL` | seconds a storage token or signed upload URL stays valid | 3600 |
/// | `webhooks` | webhook attempts (10), first retry delay (14 s, doubling), max delay (1 h), timeout (15 s), per-host (4) | see `WebhookPolicy` |
/// | `fooocusQueueSize` | Fooocus-API queue bound: queued + running fooocus requests before `QUEUE_IS_FULL` | 100 |
/// | `fooocusWebhookURL` | Fooocus-API webhook for requests that name no `webhook_url` | none |
/// | `connections` | header/body/idle/send timeouts, connection caps | see `ConnectionLimits` |
/// | `runnerTokens` | runner tokens `ID:SECRET:GLOB[|GLOB…]` for the runner protocol | none (runner calls answer 401) |
public struct ServerConfiguration: Sendable {
    /// Where requests are stored.
    public enum StoreKind: Sendable, Equatable {
        /// `<dataDirectory>/gantry.sqlite`.
        case sqlite
        /// In memory: nothing survives a restart (tests, `gantry run`).
        case memory
        /// A PostgreSQL database shared by every node of a cluster.
        case postgres(DatabaseURL)
    }

    /// Where outputs and uploads are stored.
    public enum FileStoreKind: Sendable, Equatable {
        /// `<dataDirectory>/files`.
        case local
        /// An S3-compatible bucket, shared by every node of a cluster.
        case s3(S3Location)
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
    public var fileStore: FileStoreKind = .local
    /// When an SQLite commit reaches the disk (see `SQLiteJobStore.Synchronous` and the README's durability notes).
    public var sqliteSynchronous: SQLiteJobStore.Synchronous = .normal
    /// Largest body of one upload request: a single upload, a signed PUT, or one multipart part.
    public var maxUploadBytes: Int = 100 * 1024 * 1024
    /// Largest file a multipart upload may assemble.
    public var maxMultipartUploadBytes: Int = 1024 * 1024 * 1024
    /// Seconds a storage token or signed upload URL stays valid.
    public var uploadTokenTTL: Double = 3_600
    public var dispatcher = DispatcherConfiguration()
    /// Webhook delivery: attempts, backoff, timeout, concurrency per host and in all.
    public var webhooks = WebhookPolicy()
    /// Fooocus-API's `--queue-size`: queued plus running requests of the fooocus functions (all tenants, either
    /// surface) at which its routes answer `QUEUE_IS_FULL`.
    public var fooocusQueueSize: Int = 100
    /// Fooocus-API's `--webhook-url`: where its routes' requests without a `webhook_url` report.
    public var fooocusWebhookURL: String?
    /// Tokens runners authenticate with, each limited to function-id globs.
    public var runnerTokens: [RunnerToken] = []
    /// Timeouts and caps per connection (see `ConnectionLimits` for the defaults).
    public var connections = ConnectionLimits()

    public init() {}

    /// Whether the bind address is loopback only.
    public var isLoopbackBind: Bool {
        ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host) || host.hasPrefix("127.")
    }

    /// Checks the combination of values; the message names the offending setting.
    /// The dispatcher settings the host runs with: on a shared PostgreSQL store, a starting node never takes back
    /// running requests (they may be another node's); only expired leases are rescued, by the maintenance leader.
    public var effectiveDispatcher: DispatcherConfiguration {
        var dispatcher = self.dispatcher
        if case .postgres = store { dispatcher.rescueAllRunningAtStart = false }
        return dispatcher
    }

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
        if maxUploadBytes < 1_024 { throw ConfigurationError("maxUploadBytes must be at least 1024") }
        if maxMultipartUploadBytes < maxUploadBytes {
            throw ConfigurationError("maxMultipartUploadBytes must be at least maxUploadBytes")
        }
        if !(uploadTokenTTL >= 1 && uploadTokenTTL <= 7 * 86_400) { throw ConfigurationError("uploadTokenTTL must be 1 s to 7 days") }
        if fooocusQueueSize < 1 { throw ConfigurationError("--fooocus-queue-size must be at least 1") }
        if let url = fooocusWebhookURL, !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw ConfigurationError("--fooocus-webhook-url must start with http:// or https://")
        }
        try dispatcher.validate()
        try webhooks.validate()
        try connections.validate()
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
