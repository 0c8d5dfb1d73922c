import Foundation
import Logging
import Metrics

/// The operations the wire surfaces perform on requests: submit, read, cancel, watch, and run synchronously.
/// It keeps tenants apart (another tenant's request reads as unknown) and wakes workers and watchers.
public struct RequestQueue: Sendable {
    public let store: any JobStore
    public let registry: FunctionRegistry
    public let notifier: ChangeNotifier
    public let dispatcher: Dispatcher
    let configuration: DispatcherConfiguration
    let logger: Logger

    public init(store: any JobStore, registry: FunctionRegistry, notifier: ChangeNotifier, dispatcher: Dispatcher,
                configuration: DispatcherConfiguration, logger: Logger) {
        self.store = store
        self.registry = registry
        self.notifier = notifier
        self.dispatcher = dispatcher
        self.configuration = configuration
        self.logger = logger
    }

    /// Parameters of a submit, after the input was validated.
    public struct Submission: Sendable {
        public var function: RegisteredFunction
        public var input: Data
        public var tenant: String
        public var priority: RequestPriority
        /// Seconds the request may wait in the queue before it expires (`X-Fal-Request-Timeout`).
        public var startTimeout: Double?
        public var webhookURL: String?
        /// The body shape of the webhook: fal's, or Fooocus-API's for requests its surface submitted.
        public var webhookFormat: WebhookFormat

        public init(function: RegisteredFunction, input: Data, tenant: String, priority: RequestPriority = .normal, startTimeout: Double? = nil,
                    webhookURL: String? = nil, webhookFormat: WebhookFormat = .fal) {
            self.function = function
            self.input = input
            self.tenant = tenant
            self.priority = priority
            self.startTimeout = startTimeout
            self.webhookURL = webhookURL
            self.webhookFormat = webhookFormat
        }
    }

    /// Stores a new queued request durably and wakes a worker.
    public func submit(_ submission: Submission) async throws -> RequestRecord {
        let now = configuration.now()
        let record = try await store.requestInsert(RequestInsertParams(
            id: UUID().uuidString.lowercased(), tenant: submission.tenant, functionID: submission.function.id, input: submission.input,
            priority: submission.priority, maxAttempts: submission.function.manifest.maxAttempts, createdAt: now,
            startDeadline: submission.startTimeout.map { now.addingTimeInterval($0) }, webhookURL: submission.webhookURL,
            webhookFormat: submission.webhookFormat))
        RuntimeMetrics.shared.submitted(submission.function.id).increment()
        notifier.publish(Dispatcher.workKey(submission.function.id))
        return record
    }

    /// The request if it exists and belongs to `tenant`; nil otherwise, so ids of other tenants look unknown.
    public func get(id: String, tenant: String) async throws -> RequestRecord? {
        guard let record = try await store.requestGet(id: id), record.tenant == tenant else { return nil }
        return record
    }

    /// The queue position of a queued request.
    public func queuePosition(id: String) async throws -> Int? {
        try await store.requestQueuePosition(id: id)
    }

    /// The request's log lines.
    public func logs(id: String, limit: Int = 10_000) async throws -> [LogEntry] {
        try await store.logList(requestID: id, limit: limit)
    }

    /// Cancels a request of `tenant`: queued ones at once, running ones cooperatively.
    public func cancel(id: String, tenant: String) async throws -> CancelOutcome {
        guard try await get(id: id, tenant: tenant) != nil else { return .notFound }
        let outcome = try await store.requestCancel(id: id, now: configuration.now())
        if outcome == .cancelRequested { dispatcher.stopLocal(id, reason: .user) }
        if outcome == .cancelled {
            RuntimeMetrics.shared.finished((try? await store.requestGet(id: id))?.functionID ?? "unknown", .cancelled).increment()
        }
        notifier.publish(id)
        return outcome
    }

    /// Runs a function right away, without storing the request (fal's run surface), under the function's
    /// concurrency limit and execution timeout. Cancelling the calling task (the client went away) stops the run.
    public func runSync(function: RegisteredFunction, input: Data, syncMode: Bool, tenant: String, requestID: String) async -> RunOutcome {
        var logger = self.logger
        logger[metadataKey: "request_id"] = "\(requestID)"
        logger[metadataKey: "function"] = "\(function.id)"
        let environment = dispatcher.environment
        let context = RunContext(
            requestID: requestID, functionID: function.id, tenant: tenant, attempt: 1, syncMode: syncMode,
            deadline: configuration.now().addingTimeInterval(function.manifest.timeoutSeconds), logger: logger,
            reporter: LoggerReporter(logger: logger), fetcher: environment.fetcher, files: environment.files,
            publicURL: environment.publicURL.string, naming: environment.naming, now: configuration.now)
        let control = RunControl()
        let limiter = dispatcher.limiters[function.id] ?? ConcurrencyLimiter(permits: 1)
        await limiter.acquire()
        let started = configuration.now()
        let outcome = await FunctionRunner.run(function, input: input, context: context, control: control, deadlines: dispatcher.deadlines)
        limiter.release()
        RuntimeMetrics.shared.runDuration(function.id).recordSeconds(configuration.now().timeIntervalSince(started))
        return outcome
    }
}
