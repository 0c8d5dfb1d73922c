import ArgumentParser
import Foundation
import GantrySQLite
import GantryCore
import GantryPostgres
import GantryS3
import GantryServer
import Hummingbird
import Logging
import Metrics
import Prometheus

/// `gantry serve`: flags first, then `GANTRY_*` environment variables, then defaults — read here once.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the functions over HTTP (fal queue and run surfaces).")
    private static let env = ProcessInfo.processInfo.environment

    @Option(help: "Bind address (env GANTRY_HOST).") var host: String = env["GANTRY_HOST"] ?? "127.0.0.1"
    @Option(help: "Port; 0 picks a free one (env GANTRY_PORT).") var port: Int = Int(env["GANTRY_PORT"] ?? "") ?? 8080
    @Option(help: "Data directory: SQLite queue and file store (env GANTRY_DATA_DIR).") var dataDir: String = env["GANTRY_DATA_DIR"] ?? "./gantry-data"
    @Option(help: "Public base URL of returned links (env GANTRY_PUBLIC_URL).") var publicURL: String? = env["GANTRY_PUBLIC_URL"]
    @OptionGroup var functionOptions: FunctionOptions
    @Option(help: "TLS certificate chain, PEM (env GANTRY_TLS_CERT).") var tlsCert: String? = env["GANTRY_TLS_CERT"]
    @Option(help: "TLS private key, PEM (env GANTRY_TLS_KEY).") var tlsKey: String? = env["GANTRY_TLS_KEY"]
    @Option(parsing: .upToNextOption, help: "CIDR ranges inputs may be fetched from despite the egress policy (env GANTRY_ALLOW_EGRESS, comma-separated).")
    var allowEgress: [String] = (env["GANTRY_ALLOW_EGRESS"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    @Option(help: "File of API keys, one token per line (env GANTRY_API_KEYS_FILE). GANTRY_API_KEYS may also list comma-separated tokens.")
    var apiKeysFile: String? = env["GANTRY_API_KEYS_FILE"]
    @Option(help: "Request store: sqlite or memory (env GANTRY_STORE); --database-url selects PostgreSQL.") var store: String = env["GANTRY_STORE"] ?? "sqlite"
    @Option(help: "PostgreSQL database shared by every node of a cluster: postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=disable|prefer|require] (env GANTRY_DATABASE_URL).")
    var databaseURL: String? = env["GANTRY_DATABASE_URL"]
    @Option(help: "File store: local (the data directory) or s3://BUCKET?endpoint=http://HOST:PORT&region=REGION, with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set (env GANTRY_FILE_STORE).")
    var fileStore: String = env["GANTRY_FILE_STORE"] ?? "local"
    @Option(help: "When an SQLite commit is on disk: normal (survives a crash of the process) or full (survives power loss; syncs every group commit) (env GANTRY_SQLITE_SYNCHRONOUS).")
    var sqliteSynchronous: String = env["GANTRY_SQLITE_SYNCHRONOUS"] ?? "normal"
    @Option(help: "Days to keep finished requests (env GANTRY_RETENTION_DAYS).") var retentionDays: Double = Double(env["GANTRY_RETENTION_DAYS"] ?? "") ?? 7
    @Option(help: "Seconds running work may finish after SIGTERM (env GANTRY_SHUTDOWN_GRACE).") var shutdownGrace: Double = Double(env["GANTRY_SHUTDOWN_GRACE"] ?? "") ?? 30
    @Option(help: "Lease length in seconds (env GANTRY_LEASE_SECONDS).") var leaseSeconds: Double = Double(env["GANTRY_LEASE_SECONDS"] ?? "") ?? 60
    @Option(help: "Largest accepted request body in bytes (env GANTRY_MAX_BODY_BYTES).") var maxBodyBytes: Int = Int(env["GANTRY_MAX_BODY_BYTES"] ?? "") ?? 80 * 1024 * 1024
    @Option(help: "Largest upload request body in bytes: a single upload, a signed PUT, each multipart part (env GANTRY_MAX_UPLOAD_BYTES).")
    var maxUploadBytes: Int = Int(env["GANTRY_MAX_UPLOAD_BYTES"] ?? "") ?? 100 * 1024 * 1024
    @Option(help: "Largest file a multipart upload may assemble, in bytes (env GANTRY_MAX_MULTIPART_BYTES).")
    var maxMultipartBytes: Int = Int(env["GANTRY_MAX_MULTIPART_BYTES"] ?? "") ?? 1024 * 1024 * 1024
    @OptionGroup var webhookOptions: WebhookOptions
    @OptionGroup var connectionOptions: ConnectionOptions
    @Option(help: "Fooocus-API queue bound: queued + running fooocus requests before QUEUE_IS_FULL (env GANTRY_FOOOCUS_QUEUE_SIZE).")
    var fooocusQueueSize: Int = Int(env["GANTRY_FOOOCUS_QUEUE_SIZE"] ?? "") ?? 100
    @Option(help: "Fooocus-API webhook for requests without webhook_url (env GANTRY_FOOOCUS_WEBHOOK_URL).")
    var fooocusWebhookURL: String? = env["GANTRY_FOOOCUS_WEBHOOK_URL"]
    @Option(help: "File of runner tokens, ID:SECRET:GLOB[|GLOB…] one per line (env GANTRY_RUNNER_TOKENS_FILE). GANTRY_RUNNER_TOKENS may also list them comma-separated.")
    var runnerTokensFile: String? = env["GANTRY_RUNNER_TOKENS_FILE"]
    @Option(help: "Log level: trace, debug, info, notice, warning, error (env GANTRY_LOG_LEVEL).") var logLevel: String = env["GANTRY_LOG_LEVEL"] ?? "info"

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "gantry")

        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.dataDirectory = dataDir
        configuration.publicURL = publicURL
        configuration.functionsDirectory = functionOptions.functions
        configuration.schemasDirectory = functionOptions.schemas
        configuration.tlsCertificatePath = tlsCert
        configuration.tlsKeyPath = tlsKey
        configuration.allowEgress = allowEgress
        configuration.apiKeys = try loadKeys()
        guard let storeKind = ["sqlite": ServerConfiguration.StoreKind.sqlite, "memory": .memory][store] else {
            throw ValidationError("--store must be sqlite or memory")
        }
        configuration.store = storeKind
        if let databaseURL {
            do {
                configuration.store = .postgres(try DatabaseURL(databaseURL))
            } catch let error as ConfigurationError {
                throw ValidationError(error.message)
            }
        }
        if fileStore != "local" {
            do {
                configuration.fileStore = .s3(try S3Location.parse(fileStore, environment: Self.env))
            } catch let error as ConfigurationError {
                throw ValidationError(error.message)
            }
        }
        guard let synchronous = SQLiteJobStore.Synchronous(rawValue: sqliteSynchronous) else {
            throw ValidationError("--sqlite-synchronous must be normal or full")
        }
        configuration.sqliteSynchronous = synchronous
        configuration.maxBodyBytes = maxBodyBytes
        configuration.maxUploadBytes = maxUploadBytes
        configuration.maxMultipartUploadBytes = maxMultipartBytes
        configuration.dispatcher.retention = retentionDays * 86_400
        configuration.dispatcher.shutdownGrace = shutdownGrace
        configuration.dispatcher.leaseDuration = leaseSeconds
        configuration.dispatcher.heartbeatInterval = min(15, leaseSeconds / 4)
        webhookOptions.apply(to: &configuration.webhooks)
        connectionOptions.apply(to: &configuration.connections)
        configuration.fooocusQueueSize = fooocusQueueSize
        configuration.fooocusWebhookURL = fooocusWebhookURL
        configuration.runnerTokens = try loadRunnerTokens()
        do {
            let host = try await buildApplication(configuration: configuration, handlers: Handlers.all, metrics: registry, logger: logger)
            try await host.run()
        } catch let error as ConfigurationError {
            throw ValidationError(error.message)
        }
    }

    private func loadRunnerTokens() throws -> [RunnerToken] {
        do {
            var text = Self.env["GANTRY_RUNNER_TOKENS"] ?? ""
            if let runnerTokensFile {
                guard let file = try? String(contentsOfFile: runnerTokensFile, encoding: .utf8) else {
                    throw ValidationError("--runner-tokens-file \(runnerTokensFile) cannot be read")
                }
                text += "\n" + file
            }
            return try RunnerToken.parseList(text)
        } catch let error as ConfigurationError {
            throw ValidationError("runner tokens: \(error.message)")
        }
    }

    private func loadKeys() throws -> [APIKey] {
        var keys = APIKey.parseList(Self.env["GANTRY_API_KEYS"] ?? "")
        if let apiKeysFile {
            guard let text = try? String(contentsOfFile: apiKeysFile, encoding: .utf8) else {
                throw ValidationError("--api-keys-file \(apiKeysFile) cannot be read")
            }
            keys += APIKey.parseList(text)
        }
        return keys
    }
}
