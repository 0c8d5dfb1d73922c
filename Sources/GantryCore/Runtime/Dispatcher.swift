import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// Claims queued requests and runs them: per-function concurrency, FIFO within a priority, leases renewed by
/// heartbeat, cooperative cancellation, execution timeouts, and a graceful drain on shutdown.
public final class Dispatcher: Service, @unchecked Sendable {
    let store: any JobStore
    let registry: FunctionRegistry
    let notifier: ChangeNotifier
    let environment: RunEnvironment
    let configuration: DispatcherConfiguration
    let logger: Logger
    /// One limiter per function id, shared with synchronous runs.
    public let limiters: [String: ConcurrencyLimiter]

    /// Enforces execution timeouts of queued and synchronous runs.
    public let deadlines = DeadlineMonitor()

    private let lock = NSLock()
    private var running: [String: RunningEntry] = [:]
    private var draining = false

    public init(store: any JobStore, registry: FunctionRegistry, notifier: ChangeNotifier, environment: RunEnvironment,
                configuration: DispatcherConfiguration, logger: Logger) {
        self.store = store
        self.registry = registry
        self.notifier = notifier
        self.environment = environment
        self.configuration = configuration
        self.logger = logger
        self.limiters = Dictionary(uniqueKeysWithValues: registry.functions.map { ($0.id, ConcurrencyLimiter(permits: $0.manifest.concurrency)) })
    }

    /// The notifier key that wakes the workers of a function.
    public static func workKey(_ functionID: String) -> String { "work:\(functionID)" }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { outer in
                outer.addTask {
                    await withDiscardingTaskGroup { workers in
                        for function in self.registry.functions {
                            for _ in 0..<function.manifest.concurrency {
                                workers.addTask { await self.workerLoop(function) }
                            }
                        }
                    }
                }
                outer.addTask { await self.releaseAfterGrace() }
                outer.addTask { await self.maintain() }
                await outer.next()
                outer.cancelAll()
            }
        } onGracefulShutdown: {
            self.beginDrain()
        }
    }

    /// Stops claiming new work and wakes idle workers so they exit; running work continues for the grace period.
    public func beginDrain() {
        lock.withLock { draining = true }
        for function in registry.functions { notifier.publish(Self.workKey(function.id)) }
        notifier.publish("dispatcher:drain")
    }

    var isDraining: Bool { lock.withLock { draining } }

    /// Stops a request running in this process (a cancel arrived through this host's API).
    public func stopLocal(_ requestID: String, reason: StopReason) {
        lock.withLock { running[requestID] }?.control.stop(reason)
    }

    /// The ids of requests running in this process.
    public var runningIDs: [String] { lock.withLock { Array(running.keys) } }

    private func releaseAfterGrace() async {
        while !isDraining {
            let subscription = notifier.subscribe("dispatcher:drain")
            if isDraining { subscription.cancel(); break }
            await subscription.wait(timeout: .seconds(3_600))
            if Task.isCancelled { return }
        }
        guard (try? await Task.sleep(for: .seconds(configuration.shutdownGrace))) != nil else { return }
        let controls = lock.withLock { running.values.map(\.control) }
        if !controls.isEmpty { logger.notice("grace period over; releasing \(controls.count) running request(s) to the queue") }
        for control in controls { control.stop(.shutdown) }
        // Stay alive until the workers have recorded the releases: returning would cancel them (see `run`), and a
        // cancelled task cannot write to the store.
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3_600)) }
    }

    private func workerLoop(_ function: RegisteredFunction) async {
        let limiter = limiters[function.id]!
        while !isDraining && !Task.isCancelled {
            // Subscribe before claiming so a submit between an empty claim and the wait still wakes this worker.
            let subscription = notifier.subscribe(Self.workKey(function.id))
            await limiter.acquire()
            let record: RequestRecord?
            do {
                record = isDraining ? nil : try await store.requestClaim(RequestClaimParams(
                    functionID: function.id, owner: configuration.owner, now: configuration.now(), leaseDuration: configuration.leaseDuration))
            } catch {
                logger.error("claim failed", metadata: ["function": "\(function.id)", "error": "\(error)"])
                record = nil
            }
            if let record {
                subscription.cancel()
                await execute(record, function: function)
                limiter.release()
                continue
            }
            limiter.release()
            await subscription.wait(timeout: .seconds(configuration.pollInterval))
        }
    }

    func register(_ entry: RunningEntry) { lock.withLock { running[entry.id] = entry } }
    func unregister(_ id: String) { lock.withLock { _ = running.removeValue(forKey: id) } }

    /// One loop for every run in this process: enforces execution deadlines every tick and renews leases every
    /// heartbeat interval (instead of a timer task and a heartbeat task per run).
    private func maintain() async {
        var lastHeartbeat = ContinuousClock.now
        while !Task.isCancelled {
            guard (try? await Task.sleep(for: .seconds(configuration.tick))) != nil else { return }
            deadlines.stopOverdue(now: configuration.now())
            guard ContinuousClock.now - lastHeartbeat >= .seconds(configuration.heartbeatInterval) else { continue }
            lastHeartbeat = .now
            for entry in lock.withLock({ Array(running.values) }) {
                await heartbeat(entry)
            }
        }
    }
}

/// A run in progress in this process.
struct RunningEntry: Sendable {
    var id: String
    var attempt: Int
    var control: RunControl
}

/// What a run needs from the host besides the store: input fetching, output storage, the public base URL and the
/// tenant-scoped file naming.
public struct RunEnvironment: Sendable {
    public var fetcher: any InputFetcher
    public var files: any FileStore
    public var publicURL: PublicURL
    /// Names output files after their tenant and decides which store files a tenant's inputs may name.
    public var naming: FileNaming

    /// - Parameter naming: the host passes the naming keyed by its storage secret; the default, a fresh random key,
    ///   suits processes whose files need not outlive them.
    public init(fetcher: any InputFetcher, files: any FileStore, publicURL: PublicURL, naming: FileNaming = .ephemeral()) {
        self.fetcher = fetcher
        self.files = files
        self.publicURL = publicURL
        self.naming = naming
    }
}

/// The host's public base URL (no trailing slash). Known at start-up when configured, else set once the server is
/// bound (port 0 in tests picks the port only then).
public final class PublicURL: @unchecked Sendable {
    private let lock = NSLock()
    private var value: String

    public init(_ value: String) {
        self.value = Self.trimmed(value)
    }

    /// The current base URL.
    public var string: String { lock.withLock { value } }

    /// Replaces the base URL (called once the bound port is known).
    public func set(_ newValue: String) {
        lock.withLock { value = Self.trimmed(newValue) }
    }

    private static func trimmed(_ url: String) -> String {
        url.hasSuffix("/") ? String(url.dropLast()) : url
    }
}
