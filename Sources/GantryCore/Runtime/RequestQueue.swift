import Foundation
import Signing
import Logging
import Metrics

/// The one way in for the wire surfaces: admit an input, submit, read, watch, cancel, run synchronously. It keeps
/// tenants apart (another tenant's request reads as unknown); the store, the notifier and the executors behind it
/// are its own.
public struct RequestQueue: Sendable {
    let store: any JobStore
    let catalog: FunctionCatalog
    let notifier: ChangeNotifier
    let dispatcher: Dispatcher
    let executor: RunExecutor
    let partials: PartialOutputs
    /// Terminal records kept in memory: a finished request is read from here, not the store.
    let finished: FinishedRecords
    let runners: RunnerDirectory
    let drain: DrainSignal
    let configuration: DispatcherConfiguration
    let logger: Logger

    // MARK: Functions

    /// Every function served now (built in, and registered by runners).
    public var functions: [RegisteredFunction] { catalog.current.functions }

    /// The function with exactly this id.
    public func function(id: String) -> RegisteredFunction? { catalog.function(id: id) }

    /// Resolves `owner/alias[/path…]` segments to the function with the longest matching id, and the rest.
    public func resolve(segments: [Substring]) -> (function: RegisteredFunction, rest: [Substring])? {
        catalog.current.resolve(segments: segments)
    }

    /// Increases whenever the set of functions changes.
    public var functionsVersion: Int { catalog.version }

    // MARK: Admission

    /// An input that passed its function's schema (defaults applied) and submit-time check.
    public struct Admitted: Sendable {
        public var function: RegisteredFunction
        /// The validated input, encoded.
        public var input: Data
        /// `sync_mode`: outputs inline as data URIs.
        public var syncMode: Bool

        /// Admits `input` for `function` (see `RequestQueue.admit`); `gantry run` admits through here too.
        public init(_ function: RegisteredFunction, input: JSONValue) throws(FunctionError) {
            let validated: JSONValue
            switch function.validate(input) {
            case .success(let value): validated = value
            case .failure(let failure): throw FunctionError.validation(failure)
            }
            let data = validated.encoded()
            if let handler = function.handler {
                do {
                    try handler.check(input: data)
                } catch let error as FunctionError {
                    throw error
                } catch {
                    throw FunctionError.failed("\(function.id) could not check its input: \(error)")
                }
            }
            self.function = function
            self.input = data
            self.syncMode = validated["sync_mode"]?.boolValue ?? false
        }
    }

    /// The one admit step of every surface: the input schema (422 listing each problem), then the function's
    /// submit-time check (in-process functions only: a runner's capabilities are its own).
    public func admit(_ function: RegisteredFunction, input: JSONValue) throws(FunctionError) -> Admitted {
        try Admitted(function, input: input)
    }

    /// Whether an encoded input asks for `sync_mode`.
    static func syncMode(of input: Data) -> Bool {
        (try? JSONValue.parse(input))?["sync_mode"]?.boolValue ?? false
    }

    // MARK: Submit

    /// Parameters of a submit.
    public struct Submission: Sendable {
        public var admitted: Admitted
        public var tenant: String
        public var priority: RequestPriority
        /// Seconds the request may wait in the queue before it expires (`X-Fal-Request-Timeout`).
        public var startTimeout: Double?
        public var webhookURL: String?
        /// The body shape of the webhook: fal's, or Fooocus-API's for requests its surface submitted.
        public var webhookFormat: WebhookFormat

        public init(_ admitted: Admitted, tenant: String, priority: RequestPriority = .normal, startTimeout: Double? = nil,
                    webhookURL: String? = nil, webhookFormat: WebhookFormat = .fal) {
            self.admitted = admitted
            self.tenant = tenant
            self.priority = priority
            self.startTimeout = startTimeout
            self.webhookURL = webhookURL
            self.webhookFormat = webhookFormat
        }
    }

    /// A stored submit and its place in the queue.
    public struct Submitted: Sendable {
        /// The stored request.
        public var record: RequestRecord
        /// Requests of its function ahead of it (0: next in line).
        public var queuePosition: Int
    }

    /// Stores a new request durably and tells its queue position; it starts at once when its function is idle here
    /// (see `Dispatcher+DirectStart`), otherwise it wakes the function's claimer (or a runner's claim).
    public func submit(_ submission: Submission) async throws -> Submitted {
        let inserted = try await insert(submission)
        return Submitted(record: inserted.record, queuePosition: inserted.queuePosition)
    }

    private func insert(_ submission: Submission) async throws -> InsertedRequest {
        let now = configuration.now()
        let function = submission.admitted.function
        var params = RequestInsertParams(
            id: UUID.secureRandom().lowercasedString, tenant: submission.tenant, functionID: function.id, input: submission.admitted.input,
            priority: submission.priority, maxAttempts: function.manifest.maxAttempts, createdAt: now,
            startDeadline: submission.startTimeout.map { now.addingTimeInterval($0) }, webhookURL: submission.webhookURL,
            webhookFormat: submission.webhookFormat)
        // An idle in-process function starts the request at once (see `Dispatcher+DirectStart`).
        let slot = dispatcher.reserveStart(function)
        if slot != nil { params.claimIfFirst = DirectClaim(owner: configuration.owner, leaseDuration: configuration.leaseDuration) }
        let inserted: InsertedRequest
        do {
            inserted = try await store.requestInsert(params)
        } catch {
            if let slot { dispatcher.release(slot) }
            throw error
        }
        RuntimeMetrics.shared.submitted(function.id).increment()
        if let slot, inserted.record.state == .running {
            dispatcher.start(inserted.record, in: slot)
        } else {
            if let slot { dispatcher.release(slot) }
            notifier.publish(NotifierKeys.work(function.id))
        }
        return inserted
    }

    // MARK: Read

    /// The request if it exists and belongs to `tenant`; nil otherwise, so ids of other tenants look unknown.
    public func get(id: String, tenant: String) async throws -> RequestRecord? {
        let record: RequestRecord
        if let kept = finished.record(id: id) {
            record = kept
        } else {
            guard let read = try await store.requestGet(id: id) else { return nil }
            finished.keep(read)
            record = read
        }
        return record.tenant == tenant ? record : nil
    }

    /// The request as a status poll should see it: like `get`, except that when its run in this process has just
    /// returned and the outcome is being stored, it waits for that write (one group commit, bounded by
    /// `recordingWait`) and answers with the outcome, instead of "in progress" a few hundred microseconds before
    /// it changes (which would cost the client another poll).
    public func current(id: String, tenant: String) async throws -> RequestRecord? {
        guard let record = try await get(id: id, tenant: tenant) else { return nil }
        guard record.state == .running, dispatcher.isRecording(id) else { return record }
        // Subscribed before the second read: an outcome stored between the two reads still wakes the wait.
        let subscription = notifier.subscribe(NotifierKeys.request(id))
        let again = try await get(id: id, tenant: tenant)
        guard let again, again.state == .running, dispatcher.isRecording(id) else {
            subscription.cancel()
            return again
        }
        await subscription.wait(timeout: Self.recordingWait)
        return try await get(id: id, tenant: tenant) ?? again
    }

    /// The longest a status poll waits for an outcome being stored.
    static let recordingWait: Duration = .milliseconds(50)

    /// The queue position of a queued request (nil once it left the queue).
    public func queuePosition(id: String) async throws -> Int? {
        try await store.requestQueuePosition(id: id)
    }

    /// The request's log lines.
    public func logs(id: String, limit: Int = 10_000) async throws -> [LogEntry] {
        try await store.logList(requestID: id, limit: limit)
    }

    /// Follows one request of `tenant` (see `RequestWatch`).
    public func watch(id: String, tenant: String, partialOutputs: Bool = false) -> RequestWatch {
        RequestWatch(store: store, notifier: notifier, id: id, tenant: tenant, partialOutputs: partialOutputs, recheck: .seconds(1))
    }

    /// A watch whose waits also end when any of `keys` is published.
    func watch(id: String, tenant: String, alsoWakingOn keys: [String]) -> RequestWatch {
        var watch = watch(id: id, tenant: tenant)
        watch.extraKeys = keys
        return watch
    }

    /// Waits until the request of `tenant` is terminal and returns it; nil when it does not exist (or was pruned).
    public func waitUntilFinished(id: String, tenant: String) async throws -> RequestRecord? {
        var watch = watch(id: id, tenant: tenant)
        while let record = try await watch.next(timeout: .seconds(1)) {
            if record.state.isTerminal { return record }
            try Task.checkCancellation()
        }
        return nil
    }

    /// The partial outputs of a request from index `start` on (see `PartialOutputs`).
    public func partialOutputs(id: String, from start: Int) -> [JSONValue] {
        partials.read(id, from: start).items
    }

    /// Whether requests of `functionID` wait for a runner: runners serve it and none serving it is connected.
    public func waitsForRunner(_ functionID: String) -> Bool {
        catalog.isRunnerServed(functionID) && runners.servingCount(functionID, now: configuration.now()) == 0
    }

    // MARK: Cancel and running work

    /// Cancels a request of `tenant`: queued ones at once, running ones cooperatively (in this process, or through
    /// the heartbeat of the runner that holds it).
    public func cancel(id: String, tenant: String) async throws -> CancelOutcome {
        guard try await get(id: id, tenant: tenant) != nil else { return .notFound }
        let outcome = try await store.requestCancel(id: id, now: configuration.now())
        switch outcome {
        case .cancelRequested:
            dispatcher.stopLocal(id, reason: .user)
            if let owner = try await store.requestGet(id: id)?.leaseOwner, owner.hasPrefix(RunnerLease.ownerPrefix) {
                runners.noteCancel(owner: owner, requestID: id)
                notifier.publish(NotifierKeys.leaseOwner(owner))
            }
        case .cancelled:
            RuntimeMetrics.shared.finished((try? await store.requestGet(id: id))?.functionID ?? "unknown", .cancelled).increment()
        case .alreadyCompleted, .notFound:
            break
        }
        notifier.publish(NotifierKeys.request(id))
        return outcome
    }

    /// The running requests of `tenant` among `functionIDs`, wherever they run (this process or runners).
    public func running(tenant: String, functionIDs: [String]) async throws -> [RunningAttempt] {
        try await store.requestListRunning(functionIDs: functionIDs).filter { $0.tenant == tenant }
    }

    /// Queued plus running requests of `functionIDs`, every tenant (Fooocus-API's queue bound).
    public func activeCount(functionIDs: [String]) async throws -> Int {
        let counts = try await store.requestCounts()
        return functionIDs.reduce(0) { sum, id in sum + (counts[id]?[.queued] ?? 0) + (counts[id]?[.running] ?? 0) }
    }
}

extension RequestQueue {
    // MARK: Admin

    /// Whether the store answers a read within `limit` (readiness).
    public func isReady(within limit: Duration = .seconds(2)) async -> Bool {
        // The read is not waited for past the limit: a database that does not answer holds it until the store's
        // own call timeout, which is far longer than a probe may take.
        let (answers, continuation) = AsyncStream.makeStream(of: Bool.self, bufferingPolicy: .bufferingNewest(2))
        let store = store, logger = logger
        Task {
            do {
                _ = try await store.requestGet(id: "readiness-probe")
                continuation.yield(true)
            } catch {
                logger.error("store not ready", metadata: ["error": "\(error)"])
                continuation.yield(false)
            }
        }
        let timer = Task {
            guard (try? await Task.sleep(for: limit)) != nil else { return }
            logger.error("store not ready", metadata: ["error": "no answer within \(limit)"])
            continuation.yield(false)
        }
        var iterator = answers.makeAsyncIterator()
        let ready = await iterator.next() ?? false
        timer.cancel()
        continuation.finish()
        return ready
    }

    /// The number of stored requests in each state, per function id.
    public func counts() async throws -> [String: [RequestState: Int]] {
        try await store.requestCounts()
    }

    /// The number of webhook deliveries in each state.
    public func webhookCounts() async throws -> [WebhookDeliveryState: Int] {
        try await store.webhookCounts()
    }
}
