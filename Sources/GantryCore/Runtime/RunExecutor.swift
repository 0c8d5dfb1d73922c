import Foundation
import Logging
import Synchronization
import Metrics
import ServiceLifecycle

/// Runs in-process functions: the one place that holds the per-function concurrency limits, enforces execution
/// deadlines, builds the `RunContext` and turns every way a run can end into a `RunOutcome`. Queued requests (the
/// dispatcher), synchronous runs, the tool routes and `gantry run` all run through it.
///
/// As a `Service` it ticks the deadline monitor; an executor that is not run as a service (the CLI) gives each run
/// a timer task instead.
public final class RunExecutor: Service, Sendable {
    /// Who a run is for.
    public struct Identity: Sendable {
        public var requestID: String
        public var tenant: String
        public var attempt: Int
        public var syncMode: Bool

        public init(requestID: String, tenant: String, attempt: Int = 1, syncMode: Bool) {
            self.requestID = requestID
            self.tenant = tenant
            self.attempt = attempt
            self.syncMode = syncMode
        }
    }

    /// Whether the caller already holds the function's concurrency permit (the dispatcher takes it before it
    /// claims or starts a request, so it never claims work it cannot start).
    public enum Permit: Sendable {
        case held
        case acquire
    }

    let environment: RunEnvironment
    let limiters: [String: ConcurrencyLimiter]
    let deadlines = DeadlineMonitor()
    let tick: TimeInterval
    let now: @Sendable () -> Date
    let logger: Logger
    private let ticking = Mutex(false)

    /// - Parameter functions: the in-process functions; each gets a limiter of its manifest's concurrency.
    public init(functions: [RegisteredFunction], environment: RunEnvironment, tick: TimeInterval = 0.1,
                now: @escaping @Sendable () -> Date = { Date() }, logger: Logger) {
        self.environment = environment
        self.limiters = Dictionary(uniqueKeysWithValues: functions.map { ($0.id, ConcurrencyLimiter(permits: $0.manifest.concurrency)) })
        self.tick = tick
        self.now = now
        self.logger = logger
    }

    /// The limiter of an in-process function.
    func limiter(_ functionID: String) -> ConcurrencyLimiter {
        limiters[functionID] ?? ConcurrencyLimiter(permits: 1)
    }

    /// Ticks the deadline monitor until shut down. It is the first service of the group, so it is shut down last,
    /// after the dispatcher has drained: deadlines hold for every run that finishes within the grace period.
    public func run() async throws {
        ticking.withLock { $0 = true }
        defer { ticking.withLock { $0 = false } }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            guard (try? await Task.sleep(for: .seconds(tick))) != nil else { return }
            deadlines.stopOverdue(now: now())
        }
    }

    /// Runs `function` once with `input` for `identity`, reporting to `reporter`, stoppable through `control`.
    public func run(
        _ function: RegisteredFunction, input: Data, identity: Identity, reporter: any RunReporter, control: RunControl,
        permit: Permit = .acquire
    ) async -> RunOutcome {
        guard let handler = function.handler else {
            return .failed(.failed("\(function.id) is served by runners, not in this process", errorType: "internal_error"))
        }
        var logger = self.logger
        logger[metadataKey: "request_id"] = "\(identity.requestID)"
        logger[metadataKey: "function"] = "\(function.id)"
        let limiter = limiter(function.id)
        if permit == .acquire { await limiter.acquire() }
        defer { if permit == .acquire { limiter.release() } }
        let started = now()
        let context = RunContext(
            requestID: identity.requestID, functionID: function.id, tenant: identity.tenant, attempt: identity.attempt,
            syncMode: identity.syncMode, deadline: started.addingTimeInterval(function.manifest.timeoutSeconds), logger: logger,
            reporter: reporter, fetcher: environment.fetcher, files: environment.files, publicURL: environment.publicURL.string,
            naming: environment.naming, now: now)
        let monitor = ticking.withLock { $0 } ? deadlines : nil
        let outcome = await FunctionRunner.run(function, handler: handler, input: input, context: context, control: control, deadlines: monitor)
        RuntimeMetrics.shared.runDuration(function.id).recordSeconds(now().timeIntervalSince(started))
        return outcome
    }
}
