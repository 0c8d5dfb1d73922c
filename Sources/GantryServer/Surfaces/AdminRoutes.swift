import Foundation
import GantryCore
import HTTPTypes
import Hummingbird
import Metrics
import Prometheus
import Synchronization

/// Liveness, readiness, Prometheus metrics, the OpenAPI document and the function list.
struct AdminRoutes: Sendable {
    let queue: RequestQueue
    let files: any FileStore
    let runners: RunnerGateway
    let registry: PrometheusCollectorRegistry
    let configuration: ServerConfiguration
    /// The OpenAPI document, rebuilt when the set of functions changes (a runner registered one).
    let openAPI = OpenAPICache()
    /// The runner instances `/metrics` has series for, so a forgotten one's series are removed.
    let reportedRunners = ReportedLabels()
    /// When the stored-request gauges were last recounted.
    let gaugeRefresh = RefreshGate(interval: 1)

    func register(on router: RouteTable) {
        router.get("/health") { _, _ in Response.json(.object(["status": .string("ok")])) }
        router.get("/ready") { _, _ in
            // Both checks at once, so a slow one does not delay the other's answer.
            async let storeReady = queue.isReady()
            async let filesReady = (try? await files.checkReady()) != nil
            let (store, files) = await (storeReady, filesReady)
            guard store && files else {
                return Response.json(.object(["status": .string("unavailable"), "store": .string(store ? "ok" : "unreachable"),
                                              "files": .string(files ? "ok" : "unreachable")]), status: .serviceUnavailable)
            }
            return Response.json(.object(["status": .string("ready")]))
        }
        router.get("/metrics") { _, _ in
            await refreshGauges()
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        router.get("/openapi.json") { _, _ in
            Response.json(data: openAPI.document(version: queue.functionsVersion) {
                OpenAPIDocument.build(functions: queue.functions, configuration: configuration)
            })
        }
        router.get("/functions") { _, _ in try await Response.json(functionList()) }
    }

    /// `GET /functions`: every function served now, built in or registered by runners, with its limits, the
    /// runners serving it and its queue depth.
    private func functionList() async throws -> JSONValue {
        let counts = try await queue.counts()
        return .object(["functions": .array(queue.functions.map { function in
            var entry: [String: JSONValue] = [
                "id": .string(function.id), "kind": .string(function.isRunnerFunction ? "runner" : "builtin"),
                "concurrency": .number(Double(function.manifest.concurrency)),
                "timeout_seconds": .number(function.manifest.timeoutSeconds),
                "max_attempts": .number(Double(function.manifest.maxAttempts)),
                "queued": .number(Double(counts[function.id]?[.queued] ?? 0)),
                "running": .number(Double(counts[function.id]?[.running] ?? 0)),
            ]
            if let title = function.manifest.title { entry["title"] = .string(title) }
            if function.isRunnerFunction { entry["runners"] = .number(Double(runners.servingCount(function.id))) }
            return .object(entry)
        })])
    }

    /// Queue depth and stored request counts are read from the store when scraped, so they are right even when
    /// several processes share the queue.
    private func refreshGauges() async {
        refreshRunnerGauges()
        // Store counts are group-by scans: a public /metrics polled in a loop recounts at most once a second.
        guard gaugeRefresh.begin(now: Date()) else { return }
        if let deliveries = try? await queue.webhookCounts() {
            for state in WebhookDeliveryState.allCases {
                Gauge(label: "gantry_webhook_deliveries", dimensions: [("state", state.rawValue)]).record(deliveries[state] ?? 0)
            }
        }
        guard let counts = try? await queue.counts() else { return }
        for function in queue.functions {
            let states = counts[function.id] ?? [:]
            Gauge(label: "gantry_queue_depth", dimensions: [("function", function.id)]).record(states[.queued] ?? 0)
            Gauge(label: "gantry_running", dimensions: [("function", function.id)]).record(states[.running] ?? 0)
            for state in RequestState.allCases {
                Gauge(label: "gantry_requests_stored", dimensions: [("function", function.id), ("state", state.rawValue)]).record(states[state] ?? 0)
            }
        }
    }

    /// Runner instances: capacity, in-flight work and heartbeat age per instance, connected instances per function.
    private func refreshRunnerGauges() {
        let now = runners.now()
        var current = Set<String>()
        for (instance, connected) in runners.instances() {
            let label = "\(instance.runnerID)/\(instance.instance)"
            current.insert(label)
            Gauge(label: "gantry_runner_capacity", dimensions: [("runner", label)]).record(connected ? instance.capacity : 0)
            Gauge(label: "gantry_runner_in_flight", dimensions: [("runner", label)]).record(connected ? instance.inFlight : 0)
            Gauge(label: "gantry_runner_last_heartbeat_age_seconds", dimensions: [("runner", label)])
                .record(now.timeIntervalSince(instance.lastSeen))
        }
        // Each runner start is a new instance: the series of forgotten ones go, or /metrics would grow for ever.
        let gone = reportedRunners.replace(with: current)
        for label in gone {
            for name in ["gantry_runner_capacity", "gantry_runner_in_flight", "gantry_runner_last_heartbeat_age_seconds"] {
                Gauge(label: name, dimensions: [("runner", label)]).destroy()
            }
        }
        for function in queue.functions where function.isRunnerFunction {
            Gauge(label: "gantry_runner_instances", dimensions: [("function", function.id)]).record(runners.servingCount(function.id))
        }
    }
}

/// The label values a set of series was last reported with.
final class ReportedLabels: Sendable {
    private let labels = Mutex<Set<String>>([])

    /// Replaces the set and returns the labels no longer in it.
    func replace(with current: Set<String>) -> Set<String> {
        labels.withLock { labels in
            defer { labels = current }
            return labels.subtracting(current)
        }
    }
}

/// One built document per version of the function set.
final class OpenAPICache: Sendable {
    private let cached = Mutex<(version: Int, document: Data)?>(nil)

    func document(version: Int, build: () -> Data) -> Data {
        if let hit = cached.withLock({ $0 }), hit.version == version { return hit.document }
        let document = build()
        cached.withLock { $0 = (version, document) }
        return document
    }
}

/// Lets a refresh run at most once per `interval` seconds.
final class RefreshGate: Sendable {
    private let interval: TimeInterval
    private let last = Mutex<Date?>(nil)

    init(interval: TimeInterval) {
        self.interval = interval
    }

    /// True (and the time noted) when the last refresh began at least `interval` ago.
    func begin(now: Date) -> Bool {
        last.withLock { last in
            if let previous = last, now.timeIntervalSince(previous) < interval { return false }
            last = now
            return true
        }
    }
}
