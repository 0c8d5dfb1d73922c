import Egress
import Foundation
import GantryCore
import GantryPostgres
import GantryS3
import GantrySQLite
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import Prometheus
import ServiceLifecycle
import Signing

/// A composed host: the Hummingbird application plus the parts tests and the CLI reach into.
public struct Host: Sendable {
    public let application: Application<RouterResponder<GantryRequestContext>>
    public let queue: RequestQueue
    public let runners: RunnerGateway
    /// Begun first on shutdown: answers the long polls and the synchronous waits.
    public let drain: DrainSignal
    public let store: any JobStore
    public let files: any FileStore
    public let publicURL: PublicURL
    public let configuration: ServerConfiguration
    /// The in-process change bus.
    public let notifier: ChangeNotifier
    /// The PostgreSQL change feed's state, on a cluster node.
    public let changeFeed: PostgresChangeFeed.Status?

    /// Runs the host until SIGTERM or SIGINT, then shuts it down gracefully. The first thing the shutdown does is
    /// answer the runners' long polls, so the HTTP server's own drain is not held up by them.
    public func run() async throws {
        let group = ServiceGroup(configuration: .init(
            services: [application, DrainAnnouncer(drain: drain)], gracefulShutdownSignals: [.sigterm, .sigint],
            logger: application.logger))
        try await group.run()
    }
}

/// Begins the drain the moment the host is told to shut down. Listed after the application in the outer service
/// group, it is signalled first (services shut down in reverse order).
struct DrainAnnouncer: Service {
    let drain: DrainSignal

    func run() async throws {
        try? await gracefulShutdown()
        drain.begin()
    }
}

/// Wires every part of the host from one configuration. `gantry serve` and the tests both call it; tests pass port
/// 0, a temporary data directory and trace logging.
///
/// - Parameters:
///   - configuration: validated settings.
///   - handlers: the function implementations compiled into the binary, by manifest `handler` name.
///   - metrics: the Prometheus registry `/metrics` renders (the process bootstraps swift-metrics with it).
///   - logger: the root logger.
public func buildApplication(
    configuration: ServerConfiguration, handlers: [String: AnyHostedFunction],
    metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), logger: Logger
) async throws -> Host {
    try configuration.validate()
    let dispatcher = configuration.effectiveDispatcher
    let dataDirectory = URL(fileURLWithPath: configuration.dataDirectory)
    try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
    let store: any JobStore = switch configuration.store {
    case .sqlite: try SQLiteJobStore(path: dataDirectory.appendingPathComponent("gantry.sqlite").path, synchronous: configuration.sqliteSynchronous)
    case .memory: MemoryJobStore()
    case .postgres(let url): try await PostgresJobStore.open(url: url, logger: logger)
    }
    let localFiles: LocalFileStore?
    let files: any FileStore
    switch configuration.fileStore {
    case .local:
        let local = try LocalFileStore(root: dataDirectory.appendingPathComponent("files"))
        (localFiles, files) = (local, local)
    case .s3(let location):
        localFiles = nil
        files = try S3FileStore(location: location, maxObjectBytes: max(configuration.maxMultipartUploadBytes, configuration.maxUploadBytes),
                                logger: logger)
    }
    let registry = try FunctionRegistry.load(functionsDirectory: configuration.functionsDirectory,
                                             schemasDirectory: configuration.schemasDirectory, handlers: handlers)
    // A cluster's nodes share their secrets through the store; this node publishes or adopts them before reading them.
    let sharedFiles = store as? any SharedFileStore
    if let sharedFiles { try await SharedFilesSync.adopt(store: sharedFiles, directory: dataDirectory, logger: logger) }
    let publicURL = PublicURL(configuration.publicURL ?? configuration.derivedPublicURL(port: configuration.port))
    let fetcher = try EgressFetcher(allowEgress: configuration.allowEgress, logger: logger)
    // One secret keys storage tokens, signed upload URLs and the tenant tags in file names.
    let storageSigner = TokenSigner(secret: try SecretFile.loadOrCreateKey(at: dataDirectory.appendingPathComponent("storage-secret")))
    let naming = FileNaming(signer: storageSigner)
    let uploadStaging = try UploadStaging(dataDirectory: dataDirectory)
    // Half-done uploads and writes of a previous process go, unless this process shares the data directory with a
    // live one (the same condition as rescuing that process's requests).
    if dispatcher.rescueAllRunningAtStart {
        uploadStaging.sweepAtStart(now: dispatcher.now(), logger: logger)
        localFiles?.sweepTemporaryFiles(logger: logger)
    }
    let environment = RunEnvironment(fetcher: fetcher, files: files, publicURL: publicURL, naming: naming)
    // Runner functions a previous run registered are installed, and requests it left running are rescued, before
    // anything claims.
    let runtime = try await QueueRuntime.start(store: store, builtins: registry, environment: environment,
                                               configuration: dispatcher, runnerTokens: configuration.runnerTokens, logger: logger)
    let queue = runtime.queue
    // Nodes sharing a PostgreSQL store hear each other's changes through it.
    let changeFeed = (store as? PostgresJobStore).map { ClusterFeed.make(store: $0, runtime: runtime) }
    let webhookKeys = try SigningKeyRing(directory: dataDirectory)
    let webhookEgress = EgressClient(policy: try EgressPolicy(allowingCIDRs: configuration.allowEgress), logger: logger)
    let webhooks = WebhookDispatcher(store: store, transport: EgressWebhookTransport(client: webhookEgress), keys: webhookKeys,
                                     policy: configuration.webhooks, owner: dispatcher.owner, logger: logger)
    // So are webhook attempts a previous process was making when it stopped.
    if dispatcher.rescueAllRunningAtStart { try await webhooks.recoverAtStart() }

    let methods = MethodIndex()
    let router = RouteTable(router: Router(context: GantryRequestContext.self, options: .autoGenerateHeadEndpoints), methods: methods)
    router.add(middleware: ErrorEnvelopeMiddleware(methods: methods))
    router.add(middleware: HTTPMetricsMiddleware())
    router.add(middleware: AuthMiddleware(keys: KeyRing(configuration.apiKeys)))
    AdminRoutes(queue: queue, files: files, runners: runtime.runners, registry: metrics, configuration: configuration).register(on: router)
    RunnerRoutes(gateway: runtime.runners, auth: RunnerAuth(tokens: RunnerTokenRing(configuration.runnerTokens), apiKeys: KeyRing(configuration.apiKeys)),
                 configuration: configuration, publicURL: publicURL).register(on: router)
    FileRoutes(files: files, conversions: FileConversions()).register(on: router)
    FalStorage(configuration: configuration, files: files, naming: naming, signer: storageSigner, staging: uploadStaging,
               publicURL: publicURL).register(on: router)
    JWKSRoute(keys: webhookKeys).register(on: router)
    let webhookCheck = WebhookURLCheck(client: webhookEgress)
    // Fooocus-API's routes are fixed paths, so they go before fal's catch-all.
    let fooocusJobs = FooocusJobIndex()
    let fooocusAPI = FooocusAPISurface(
        jobs: FooocusAPIJobs(queue: queue, index: fooocusJobs, queueSize: configuration.fooocusQueueSize,
                             webhookURL: configuration.fooocusWebhookURL, webhookCheck: webhookCheck),
        responses: FooocusAPIResponses(queue: queue, files: files, publicURL: publicURL, index: fooocusJobs),
        catalog: FooocusAPICatalog.load(schemasDirectory: configuration.schemasDirectory, registry: registry, logger: logger),
        maxBodyBytes: configuration.maxBodyBytes
    )
    fooocusAPI.register(on: router)
    // FooocusAPI 2.5 shares its queue side, bodies and catalog.
    FooocusAPI25Surface(api: fooocusAPI, tasks: FooocusAPI25TaskIndex()).register(on: router)
    let fal = FalSurface(queue: queue, configuration: configuration, publicURL: publicURL, webhookCheck: webhookCheck)
    for method in [HTTPRequest.Method.get, .post, .put] {
        router.on("**", method: method) { request, context in try await fal.handle(request, context: context) }
    }
    router.seal()

    // Connections: timeouts and caps in front of Hummingbird's HTTP/1 channel, a cap below the descriptor limit.
    let clients = ClientAddressCounter(limit: configuration.connections.maxConnectionsPerClient)
    let maxConnections = configuration.connections.effectiveMaxConnections(descriptorLimit: DescriptorLimit.raiseToHard())
    let http = GuardedHTTPChannel.builder(limits: configuration.connections, clients: clients)
    let server: HTTPServerBuilder
    if let certificate = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
        let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
        let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .file(key))
        server = try .tls(http, tlsConfiguration: tls)
    } else {
        server = http
    }
    let application = Application(
        router: router.router, server: server,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "gantry",
                             availableConnectionsDelegate: MaximumAvailableConnections(maxConnections, logger: logger)),
        services: runtime.services + [webhooks]
            + (sharedFiles.map { [SharedFilesSync(store: $0, directory: dataDirectory, interval: .seconds(5), logger: logger)] } ?? [])
            + (changeFeed.map { [$0] } ?? []),
        onServerRunning: { channel in
            try? await AcceptBackoff.install(on: channel, logger: logger)
            if configuration.publicURL == nil, let port = channel.localAddress?.port {
                publicURL.set(configuration.derivedPublicURL(port: port))
            }
            logger.notice("serving", metadata: ["url": "\(publicURL.string)", "functions": "\(registry.functions.count)",
                                                "max_connections": "\(maxConnections)"])
        },
        logger: logger)
    return Host(application: application, queue: queue, runners: runtime.runners, drain: runtime.drain, store: store, files: files,
                publicURL: publicURL, configuration: configuration, notifier: runtime.notifier, changeFeed: changeFeed?.status)
}
