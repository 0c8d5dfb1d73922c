import Foundation
import Logging

extension RunnerGateway {
    /// One claimed request as a runner receives it.
    public struct Job: Sendable {
        /// The claimed request (input, attempt, lease).
        public var record: RequestRecord
        /// The token every call about this attempt carries.
        public var leaseToken: String
        /// When the attempt's execution timeout ends.
        public var deadline: Date
        public var syncMode: Bool
    }

    /// A long poll: up to `max` requests of `functionIDs` at once, or whatever a submit brings within `wait`.
    public func claim(token: RunnerToken, instance: String, functionIDs: [String], max: Int, wait: TimeInterval) async throws -> [Job] {
        try Self.checkInstance(instance)
        let functionIDs = Array(Set(functionIDs)).sorted()
        guard !functionIDs.isEmpty else { throw RunnerError.field([.string("functions")], "Name at least one function", type: "too_short") }
        guard functionIDs.count <= limits.maxClaimFunctions else {
            throw RunnerError.field([.string("functions")], "Name at most \(limits.maxClaimFunctions) functions", type: "too_long")
        }
        guard (1...limits.maxClaimBatch).contains(max) else {
            throw RunnerError.field([.string("max")], "Must be an integer from 1 to \(limits.maxClaimBatch)", type: "value_error")
        }
        for id in functionIDs {
            guard token.allows(id) else { throw RunnerError.forbidden(id) }
            guard catalog.isRunnerServed(id) else { throw RunnerError.functionNotFound(id) }
        }
        let owner = RunnerLease.owner(runnerID: token.id, instance: instance)
        directory.seen(runnerID: token.id, instance: instance, now: configuration.now())
        let deadline = ContinuousClock.now + .seconds(Swift.max(0, Swift.min(wait, limits.maxClaimWait)))
        let keys = functionIDs.map(NotifierKeys.work) + [NotifierKeys.drain]
        while true {
            // Subscribe before claiming: a submit between an empty claim and the wait still wakes this poll.
            let subscription = notifier.subscribe(anyOf: keys)
            if isDraining || Task.isCancelled {
                subscription.cancel()
                return []
            }
            let records = try await store.requestClaim(RequestClaimParams(
                functionIDs: functionIDs, owner: owner, limit: max, now: configuration.now(), leaseDuration: configuration.leaseDuration))
            if !records.isEmpty {
                subscription.cancel()
                directory.seen(runnerID: token.id, instance: instance, now: configuration.now())
                return records.compactMap { job(for: $0, instance: instance) }
            }
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else {
                subscription.cancel()
                return []
            }
            await subscription.wait(timeout: remaining)
        }
    }

    private func job(for record: RequestRecord, instance: String) -> Job? {
        guard let fence = LeaseFence(record), let function = catalog.function(id: record.functionID) else { return nil }
        let now = configuration.now()
        let startedAt = record.startedAt ?? now
        let syncMode = RequestQueue.syncMode(of: record.input)
        var requestLogger = logger
        requestLogger[metadataKey: "request_id"] = "\(record.id)"
        let reporter = StoreReporter(store: store, notifier: notifier, partials: partials, requestID: record.id, attempt: record.attempt,
                                     maxLines: configuration.maxLogLinesPerAttempt, logger: requestLogger)
        attempts.insert(fence, .init(functionID: record.functionID, tenant: record.tenant, syncMode: syncMode, startedAt: startedAt,
                                     reporter: reporter, lastUsed: now))
        notifier.publish(NotifierKeys.request(record.id))
        if record.attempt > 1 { RuntimeMetrics.shared.retriedAttempt(record.functionID).increment() }
        return Job(record: record, leaseToken: RunnerLease.token(attempt: record.attempt, instance: instance),
                   deadline: startedAt.addingTimeInterval(function.manifest.timeoutSeconds), syncMode: syncMode)
    }

    /// What a heartbeat answers.
    public struct HeartbeatAnswer: Sendable, Equatable {
        /// Requests whose cancellation a client asked for.
        public var cancel: [String]
        /// Requests this instance no longer holds: stop, post nothing.
        public var lost: [String]
    }

    /// Renews the leases of every listed request; then, with `wait`, holds the answer until a cancel arrives for any
    /// request of this instance or the wait ends.
    /// An item a runner heartbeats `cancelling` acknowledges a cancel it already heard: it is renewed but not
    /// reported again, so the poll can wait for news.
    public func heartbeat(token: RunnerToken, instance: String, inFlight: [(requestID: String, leaseToken: String, cancelling: Bool)],
                          wait: TimeInterval) async throws -> HeartbeatAnswer {
        try Self.checkInstance(instance)
        guard inFlight.count <= limits.maxInFlight else {
            throw RunnerError.field([.string("in_flight")], "List at most \(limits.maxInFlight) requests", type: "too_long")
        }
        let owner = RunnerLease.owner(runnerID: token.id, instance: instance)
        // Subscribe before reading the cancel flags and the mailbox, so a cancel in between still ends the wait.
        let subscription = notifier.subscribe(anyOf: [NotifierKeys.leaseOwner(owner), NotifierKeys.drain])
        defer { subscription.cancel() }
        var lost: [String] = []
        var items: [(String, LeaseFence)] = []
        let acknowledged = Set(inFlight.filter(\.cancelling).map(\.requestID))
        for (requestID, leaseToken, _) in inFlight {
            guard let fence = RunnerLease.fence(requestID: requestID, token: leaseToken, runnerID: token.id), fence.owner == owner else {
                lost.append(requestID)
                continue
            }
            items.append((requestID, fence))
        }
        let expires = configuration.now().addingTimeInterval(configuration.leaseDuration)
        let outcomes = try await store.requestHeartbeat(items.map { RequestHeartbeatParams(fence: $0.1, leaseExpiresAt: expires) })
        var cancel = Set<String>()
        let now = configuration.now()
        for ((requestID, fence), outcome) in zip(items, outcomes) {
            switch outcome {
            case .renewed(let cancelRequested):
                _ = attempts.get(fence, now: now)  // keeps a quiet attempt's entry (and its log-line count) alive
                if cancelRequested { cancel.insert(requestID) }
            case .lost:
                lost.append(requestID)
                attempts.remove(fence)
            }
        }
        directory.seen(runnerID: token.id, instance: instance, inFlight: inFlight.count, now: configuration.now())
        cancel.formUnion(directory.takeCancels(owner: owner))
        cancel.subtract(acknowledged)
        if cancel.isEmpty && lost.isEmpty && wait > 0 && !isDraining {
            await subscription.wait(timeout: .seconds(Swift.min(wait, maxHeartbeatWait)))
            cancel.formUnion(directory.takeCancels(owner: owner).subtracting(acknowledged))
            directory.seen(runnerID: token.id, instance: instance, now: configuration.now())
        }
        let lostSet = Set(lost)
        return HeartbeatAnswer(cancel: cancel.subtracting(lostSet).sorted(), lost: lost.sorted())
    }

    /// Ends runner attempts that ran past their function's timeout (and its grace): 504 `request_timeout`, and the
    /// runner hears of it as a cancel (its later post is moot).
    func endOverdueAttempts() async {
        let runnerFunctions = catalog.runnerFunctionIDs
        guard !runnerFunctions.isEmpty, let running = try? await store.requestListRunning(functionIDs: runnerFunctions) else { return }
        let now = configuration.now()
        for record in running {
            guard let fence = record.fence, fence.owner.hasPrefix(RunnerLease.ownerPrefix),
                  let function = catalog.function(id: record.functionID), let started = record.startedAt,
                  now.timeIntervalSince(started) > function.manifest.timeoutSeconds + limits.timeoutGrace else { continue }
            var requestLogger = logger
            requestLogger[metadataKey: "request_id"] = "\(record.id)"
            let completion = Completion.failed(Completion.timeoutError(seconds: function.manifest.timeoutSeconds))
            if (try? await recorder.complete(completion, fence: fence, functionID: record.functionID, elapsed: now.timeIntervalSince(started),
                                              logger: requestLogger)) == true {
                requestLogger.warning("runner attempt overran its timeout; ended", metadata: ["owner": "\(fence.owner)"])
                attempts.remove(fence)
                directory.noteCancel(owner: fence.owner, requestID: record.id)
                notifier.publish(NotifierKeys.leaseOwner(fence.owner))
            }
        }
    }
}
