import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// Keeps the queue healthy: at start-up and then every `sweepInterval` it rescues requests whose lease expired
/// (their runner died), expires requests whose start deadline passed, and prunes old terminal requests.
public final class Sweeper: Service, Sendable {
    let store: any JobStore
    let notifier: ChangeNotifier
    let configuration: DispatcherConfiguration
    let logger: Logger

    public init(store: any JobStore, notifier: ChangeNotifier, configuration: DispatcherConfiguration, logger: Logger) {
        self.store = store
        self.notifier = notifier
        self.configuration = configuration
        self.logger = logger
    }

    /// Rescues what a previous run of this host left running. Called once before the dispatcher starts.
    public func recoverAtStart() async throws {
        // Runners are other processes: their leases outlive this host's restart and are rescued only once expired.
        let rescued = try await store.requestRescue(RequestRescueParams(
            now: configuration.now(), includeUnexpiredLeases: configuration.rescueAllRunningAtStart, sparingOwnerPrefix: RunnerLease.ownerPrefix))
        await report(rescued)
    }

    /// The leadership the sweeper needs on a shared store (see `LeaderElection`).
    static let leadership = "maintenance"

    public func run() async throws {
        var lastPrune = Date.distantPast
        var leading = false
        defer { Gauge(label: "gantry_maintenance_leader").record(0) }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                // On a shared store only the leader sweeps; the lease outlives a few sweeps, so a leader that stops
                // is replaced within about `leaderLease` seconds.
                if let election = store as? any LeaderElection {
                    let leads = try await election.leaderAcquire(name: Self.leadership, owner: configuration.owner, duration: leaderLease)
                    if leads != leading {
                        logger.notice(leads ? "this node now runs the cluster's maintenance" : "another node runs the cluster's maintenance")
                        Gauge(label: "gantry_maintenance_leader").record(leads ? 1 : 0)
                        leading = leads
                    }
                    guard leads else {
                        try? await gracefulShutdown(sleeping: configuration.sweepInterval)
                        continue
                    }
                }
                try await sweepOnce()
                if configuration.now().timeIntervalSince(lastPrune) > 60 {
                    lastPrune = configuration.now()
                    let pruned = try await store.requestPrune(finishedBefore: configuration.now().addingTimeInterval(-configuration.retention))
                    if pruned > 0 { logger.info("pruned \(pruned) finished request(s) past retention") }
                }
            } catch {
                logger.error("sweep failed", metadata: ["error": "\(error)"])
            }
            try? await gracefulShutdown(sleeping: configuration.sweepInterval)
        }
        if leading, let election = store as? any LeaderElection {
            try? await election.leaderRelease(name: Self.leadership, owner: configuration.owner)
        }
    }

    /// How long a maintenance lease lasts: several sweep intervals, and at least 10 s.
    var leaderLease: TimeInterval { max(10, configuration.sweepInterval * 5) }

    /// One pass: rescue expired leases and expire overdue queued requests.
    public func sweepOnce() async throws {
        await report(try await store.requestRescue(RequestRescueParams(now: configuration.now())))
        for id in try await store.requestExpireOverdue(now: configuration.now()) {
            logger.info("request expired before it started", metadata: ["request_id": "\(id)"])
            Counter(label: "gantry_requests_expired_total").increment()
            notifier.publish(NotifierKeys.request(id))
        }
    }

    private func report(_ rescued: [RescueOutcome]) async {
        for outcome in rescued {
            logger.warning("rescued a request whose runner disappeared", metadata: ["request_id": "\(outcome.id)", "state": "\(outcome.state.rawValue)"])
            await note(outcome)
            if outcome.state.isTerminal {
                RuntimeMetrics.shared.finished(outcome.functionID, outcome.state).increment()
            }
            notifier.publish(NotifierKeys.request(outcome.id))
            notifier.publish(NotifierKeys.work(outcome.functionID))
        }
    }

    /// Says in the request's own logs (`status?logs=1`) that an attempt was lost and what happens next.
    private func note(_ outcome: RescueOutcome) async {
        guard let record = try? await store.requestGet(id: outcome.id) else { return }
        let lost = record.attempt
        let message = switch outcome.state {
        case .queued: "attempt \(lost) of \(record.maxAttempts) lost: its runner stopped renewing the lease; queued again for attempt \(lost + 1)"
        case .cancelled: "attempt \(lost) of \(record.maxAttempts) lost: its runner stopped renewing the lease after a cancel; the request ends cancelled"
        default: "attempt \(lost) of \(record.maxAttempts) lost: its runner stopped renewing the lease; no attempts left"
        }
        try? await store.logAppend(requestID: outcome.id, entries: [LogEntry(message: message, level: .warn, source: "GANTRY", timestamp: configuration.now())])
    }

    private func gracefulShutdown(sleeping seconds: TimeInterval) async throws {
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(seconds)) }
    }
}
