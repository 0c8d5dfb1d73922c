import Foundation
@testable import GantryCore
import Testing

/// A flag set once, read from any task.
private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

@Suite("Sweeper")
struct SweeperTests {
    /// Claims a request as a runner that then vanished: its lease expired a minute before the clock's now.
    private func abandon(_ harness: Harness, _ id: String, clock: TestClock) async throws {
        let claimed = try await harness.store.requestClaim(RequestClaimParams(
            functionID: "t/echo", owner: "ghost", now: clock.now.addingTimeInterval(-120), leaseDuration: 60))
        #expect(claimed.first?.id == id)
    }

    /// An expired lease goes back to the queue (waking watchers), and a live dispatcher then finishes it.
    @Test func rescuesExpiredLease() async throws {
        let clock = TestClock()
        let harness = Harness([registered(manifest("t/echo"), ProbeFunction(probe: Probe()))], clock: clock)
        let submitted = try await harness.submit("t/echo", "orphan")
        try await abandon(harness, submitted.id, clock: clock)
        let watcher = harness.notifier.subscribe(submitted.id)
        try await harness.sweeper.sweepOnce()
        #expect(watcher.hasFired)
        let rescued = try #require(try await harness.store.requestGet(id: submitted.id))
        #expect(rescued.state == .queued)
        #expect(rescued.leaseOwner == nil)
        try await harness.withDispatcher {
            let record = try await harness.waitFor(submitted.id, .succeeded)
            #expect(record.attempt == 2)
        }
    }

    /// A lease that has not expired is left alone.
    @Test func keepsLiveLease() async throws {
        let clock = TestClock()
        let harness = Harness([registered(manifest("t/echo"), ProbeFunction(probe: Probe()))], clock: clock)
        let submitted = try await harness.submit("t/echo", "alive")
        _ = try await harness.store.requestClaim(RequestClaimParams(functionID: "t/echo", owner: "other", now: clock.now, leaseDuration: 60))
        try await harness.sweeper.sweepOnce()
        #expect(try await harness.store.requestGet(id: submitted.id)?.state == .running)
    }

    /// After `maxAttempts` abandoned attempts the request fails with `runner_disconnected`.
    @Test func failsAfterMaxAttempts() async throws {
        let clock = TestClock()
        let harness = Harness([registered(manifest("t/echo", maxAttempts: 2), ProbeFunction(probe: Probe()))], clock: clock)
        let submitted = try await harness.submit("t/echo", "doomed")
        try await abandon(harness, submitted.id, clock: clock)
        try await harness.sweeper.sweepOnce()
        #expect(try await harness.store.requestGet(id: submitted.id)?.state == .queued)
        try await abandon(harness, submitted.id, clock: clock)
        try await harness.sweeper.sweepOnce()
        let record = try #require(try await harness.store.requestGet(id: submitted.id))
        #expect(record.state == .failed)
        #expect(record.attempt == 2)
        #expect(record.errorType == "runner_disconnected")
        #expect(record.finishedAt == clock.now)
    }

    /// A request still queued after its start deadline is never claimed and the sweep expires it.
    @Test func expiresOverdue() async throws {
        let clock = TestClock()
        let probe = Probe()
        let harness = Harness([registered(manifest("t/echo"), ProbeFunction(probe: probe))], clock: clock)
        let overdue = try await harness.submit("t/echo", "overdue", startTimeout: 5)
        #expect(overdue.startDeadline == clock.now.addingTimeInterval(5))
        clock.advance(10)
        try await harness.withDispatcher {
            let watcher = harness.notifier.subscribe(overdue.id)
            try await harness.sweeper.sweepOnce()
            #expect(watcher.hasFired)
            let record = try await harness.waitFor(overdue.id, .expired)
            #expect(record.finishedAt == clock.now)
            // A request with time left still runs.
            let timely = try await harness.submit("t/echo", "timely", startTimeout: 5)
            _ = try await harness.waitFor(timely.id, .succeeded)
        }
        #expect(probe.started == ["timely"])
    }
}

@Suite("Dispatcher drain")
struct DrainTests {
    /// Runs the dispatcher; `finished` is set when `run()` returns on its own.
    private func running(_ harness: Harness, _ body: (Flag) async throws -> Void) async throws {
        let finished = Flag()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await harness.dispatcher.run()
                finished.set()
            }
            do { try await body(finished) } catch { group.cancelAll(); throw error }
            group.cancelAll()
            try await group.waitForAll()
        }
    }

    /// After beginDrain nothing new is claimed, the running request finishes normally, and run() returns.
    @Test func drainFinishesRunningWork() async throws {
        let probe = Probe()
        let gate = Gate()
        let harness = Harness([registered(manifest("t/echo", concurrency: 2), ProbeFunction(probe: probe, gate: gate))], shutdownGrace: 60)
        try await running(harness) { finished in
            let first = try await harness.submit("t/echo", "first")
            #expect(await eventually { probe.started == ["first"] })
            harness.dispatcher.beginDrain()
            let second = try await harness.submit("t/echo", "second")
            gate.open()
            _ = try await harness.waitFor(first.id, .succeeded)
            #expect(await eventually { finished.isSet })
            #expect(try await harness.store.requestGet(id: second.id)?.state == .queued)
        }
        #expect(probe.started == ["first"])
    }

    /// With no grace period a running request is stopped and released to the queue without using up an attempt.
    @Test func zeroGraceReleasesUncounted() async throws {
        let probe = Probe()
        let harness = Harness([registered(manifest("t/echo"), ProbeFunction(probe: probe, gate: Gate()))], shutdownGrace: 0)
        try await running(harness) { finished in
            let submitted = try await harness.submit("t/echo", "interrupted")
            #expect(await eventually { probe.started.count == 1 })
            harness.dispatcher.beginDrain()
            #expect(await eventually { finished.isSet })
            let record = try #require(try await harness.store.requestGet(id: submitted.id))
            #expect(record.state == .queued)
            #expect(record.attempt == 0)
            #expect(record.leaseOwner == nil)
            #expect(probe.cancellations == 1)
        }
    }
}
