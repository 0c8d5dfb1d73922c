import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Claims queued requests of the in-process functions and runs them through the `RunExecutor`: per-function
/// concurrency (the claimer takes the permits before it claims, so nothing is claimed that cannot start at once),
/// FIFO within a priority, leases renewed by heartbeat, cooperative cancellation, and a graceful drain on shutdown.
/// A function that runners registered in place of a built-in one is left to them.
///
/// Each function has ONE claimer: it waits for work, takes every free permit, claims that many requests in one
/// store call and starts a task for each. A submit therefore wakes one task and costs one claim, however wide the
/// function's concurrency (a worker per permit, each waking on every submit and each claiming, cost a store write
/// per idle worker per submit).
public final class Dispatcher: Service, Sendable {
    let store: any JobStore
    let catalog: FunctionCatalog
    let notifier: ChangeNotifier
    let executor: RunExecutor
    let recorder: AttemptRecorder
    let partials: PartialOutputs
    let configuration: DispatcherConfiguration
    let logger: Logger

    struct State {
        var running: [String: RunningEntry] = [:]
        var draining = false
        /// Whether `run` is serving: only then does a submit start its request directly.
        var serving = false
        /// Slots reserved for direct starts (see `Dispatcher+DirectStart`) not yet given back: runs, and inserts
        /// that may become runs.
        var directRuns = 0
        /// Requests whose run has returned and whose outcome is being stored.
        var recording: Set<String> = []
    }

    let state = Mutex(State())

    init(store: any JobStore, catalog: FunctionCatalog, notifier: ChangeNotifier, executor: RunExecutor, recorder: AttemptRecorder,
         partials: PartialOutputs, configuration: DispatcherConfiguration, logger: Logger) {
        self.store = store
        self.catalog = catalog
        self.notifier = notifier
        self.executor = executor
        self.recorder = recorder
        self.partials = partials
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        state.withLock { $0.serving = true }
        defer { state.withLock { $0.serving = false } }
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { outer in
                outer.addTask {
                    await withDiscardingTaskGroup { claimers in
                        for function in self.catalog.builtins.functions {
                            claimers.addTask { await self.claimLoop(function) }
                        }
                    }
                    await self.directRunsEnded()
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

    /// Stops claiming new work and wakes the claimers so they exit; running work continues for the grace period.
    public func beginDrain() {
        state.withLock { $0.draining = true }
        for function in catalog.builtins.functions { notifier.publish(NotifierKeys.work(function.id)) }
        notifier.publish(NotifierKeys.catalog)
        notifier.publish(NotifierKeys.drain)
    }

    var isDraining: Bool { state.withLock { $0.draining } }

    /// Whether this process is storing the outcome of the request's finished run right now.
    func isRecording(_ requestID: String) -> Bool {
        state.withLock { $0.recording.contains(requestID) }
    }

    /// Stops a request running in this process (a cancel arrived through this host's API).
    func stopLocal(_ requestID: String, reason: StopReason) {
        state.withLock { $0.running[requestID] }?.control.stop(reason)
    }

    private func releaseAfterGrace() async {
        while !isDraining {
            let subscription = notifier.subscribe(NotifierKeys.drain)
            if isDraining { subscription.cancel(); break }
            await subscription.wait(timeout: .seconds(3_600))
            if Task.isCancelled { return }
        }
        guard (try? await Task.sleep(for: .seconds(configuration.shutdownGrace))) != nil else { return }
        let controls = state.withLock { $0.running.values.map(\.control) }
        if !controls.isEmpty { logger.notice("grace period over; releasing \(controls.count) running request(s) to the queue") }
        for control in controls { control.stop(.shutdown) }
        // Stay alive until the runs have recorded the releases: returning would cancel them (see `run`), and a
        // cancelled task cannot write to the store.
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3_600)) }
    }

    /// The most requests one claim takes (and so the most permits the claimer holds while it claims).
    static let maxClaimBatch = 64

    /// Claims and starts the work of one function until the drain; the runs it starts finish before it returns.
    private func claimLoop(_ function: RegisteredFunction) async {
        let limiter = executor.limiter(function.id)
        // Whether the last claim may have left work behind (it took all it asked for). A submit or the poll
        // interval sets it again.
        var mayHaveWork = true
        // The subscription taken before a claim that found the queue empty: the wait after it must be on this one,
        // so that a submit during that claim is not missed.
        var pending: Subscription?
        await withDiscardingTaskGroup { runs in
            while !isDraining && !Task.isCancelled {
                if catalog.isRunnerServed(function.id) {
                    pending?.cancel()
                    pending = nil
                    // Runners serve this id now; wait for the catalog to change (or the drain).
                    let subscription = notifier.subscribe(anyOf: [NotifierKeys.catalog, NotifierKeys.drain])
                    if catalog.isRunnerServed(function.id) && !isDraining { await subscription.wait(timeout: .seconds(60)) }
                    subscription.cancel()
                    mayHaveWork = true
                    continue
                }
                let subscription = pending ?? notifier.subscribe(NotifierKeys.work(function.id))
                pending = nil
                if !mayHaveWork {
                    await subscription.wait(timeout: .seconds(configuration.pollInterval))
                    mayHaveWork = true
                    continue
                }
                // The first permit in line with synchronous runs (FIFO); the rest only if free right now.
                await limiter.acquire()
                let permits = 1 + limiter.tryAcquire(upTo: Self.maxClaimBatch - 1)
                let records = await claim(function, limit: permits)
                limiter.release(permits - records.count)
                mayHaveWork = records.count == permits
                if mayHaveWork { subscription.cancel() } else { pending = subscription }
                for record in records {
                    guard let fence = LeaseFence(record) else { limiter.release(); continue }
                    runs.addTask {
                        await self.execute(record, fence: fence, function: function)
                        limiter.release()
                    }
                }
            }
            pending?.cancel()
        }
    }

    private func claim(_ function: RegisteredFunction, limit: Int) async -> [RequestRecord] {
        guard !isDraining else { return [] }
        do {
            return try await store.requestClaim(RequestClaimParams(
                functionIDs: [function.id], owner: configuration.owner, limit: limit, now: configuration.now(),
                leaseDuration: configuration.leaseDuration))
        } catch {
            logger.error("claim failed", metadata: ["function": "\(function.id)", "error": "\(error)"])
            return []
        }
    }

    /// Runs one claimed attempt to its end and records the outcome under its fence.
    func execute(_ record: RequestRecord, fence: LeaseFence, function: RegisteredFunction) async {
        var logger = self.logger
        logger[metadataKey: "request_id"] = "\(record.id)"
        logger[metadataKey: "function"] = "\(function.id)"
        logger[metadataKey: "attempt"] = "\(record.attempt)"
        let control = RunControl()
        state.withLock { $0.running[record.id] = RunningEntry(fence: fence, functionID: function.id, control: control) }
        if record.attempt > 1 { RuntimeMetrics.shared.retriedAttempt(function.id).increment() }
        notifier.publish(NotifierKeys.request(record.id))
        logger.debug("running")
        // A cancel that arrived while a previous attempt's runner was dying survives the rescue; honour it now.
        if record.cancelRequested { control.stop(.user) }

        let started = configuration.now()
        let reporter = StoreReporter(store: store, notifier: notifier, partials: partials, requestID: record.id, attempt: record.attempt,
                                     maxLines: configuration.maxLogLinesPerAttempt, logger: logger)
        let outcome = await executor.run(
            function, input: record.input,
            identity: .init(requestID: record.id, tenant: record.tenant, attempt: record.attempt, syncMode: RequestQueue.syncMode(of: record.input)),
            reporter: reporter, control: control, permit: .held)
        // The run is over: from here a heartbeat that finds the lease gone is seeing this attempt's own finish.
        state.withLock { state in
            state.running.removeValue(forKey: record.id)
            state.recording.insert(record.id)
        }
        defer { _ = state.withLock { $0.recording.remove(record.id) } }
        let elapsed = configuration.now().timeIntervalSince(started)
        do {
            if let completion = outcome.completion(timeoutSeconds: function.manifest.timeoutSeconds) {
                if try await !recorder.complete(completion, fence: fence, functionID: function.id, elapsed: elapsed, logger: logger) {
                    logger.warning("finish lost: the request moved on while this attempt ran")
                }
            } else if case .stopped(.shutdown) = outcome {
                let released = try await recorder.release(fence, functionID: function.id)
                logger.notice(released ? "released to the queue at shutdown" : "could not release at shutdown; the sweeper will rescue it")
            } else {
                logger.warning("attempt lost its lease; its outcome is discarded")
            }
        } catch {
            logger.error("could not record the outcome; the sweeper will retry the request", metadata: ["error": "\(error)"])
        }
    }

    /// One loop for every run in this process: renews every lease in one store call each heartbeat interval.
    private func maintain() async {
        while !Task.isCancelled {
            guard (try? await Task.sleep(for: .seconds(configuration.heartbeatInterval))) != nil else { return }
            let entries = state.withLock { Array($0.running.values) }
            guard !entries.isEmpty else { continue }
            let expires = configuration.now().addingTimeInterval(configuration.leaseDuration)
            do {
                let outcomes = try await store.requestHeartbeat(entries.map { RequestHeartbeatParams(fence: $0.fence, leaseExpiresAt: expires) })
                for (entry, outcome) in zip(entries, outcomes) {
                    switch outcome {
                    case .renewed(let cancelRequested): if cancelRequested { entry.control.stop(.user) }
                    case .lost:
                        // The snapshot above is older than the store call: a run that finished meanwhile has already
                        // recorded its outcome (which ended the lease). Only a run still going has lost anything.
                        guard state.withLock({ $0.running[entry.fence.requestID]?.fence == entry.fence }) else { continue }
                        RuntimeMetrics.shared.leaseLost(entry.functionID).increment()
                        logger.warning("lease lost; abandoning this attempt", metadata: ["request_id": "\(entry.fence.requestID)"])
                        entry.control.stop(.leaseLost)
                    }
                }
            } catch {
                logger.error("heartbeat failed", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// A run in progress in this process.
struct RunningEntry: Sendable {
    var fence: LeaseFence
    var functionID: String
    var control: RunControl
}
