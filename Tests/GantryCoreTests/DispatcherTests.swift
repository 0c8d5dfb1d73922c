import Foundation
@testable import GantryCore
import Testing

private struct Boom: Error {}

@Suite("Dispatcher")
struct DispatcherTests {
    /// A queued request is claimed, run once and succeeds; its output, logs and timing are stored.
    @Test func runsQueuedRequest() async throws {
        let probe = Probe()
        let harness = Harness([registered(manifest("t/echo"), ProbeFunction(probe: probe))])
        try await harness.withDispatcher {
            let submitted = try await harness.submit("t/echo", "one")
            let record = try await harness.waitFor(submitted.id, .succeeded)
            #expect(record.attempt == 1)
            #expect(record.result?.status == 200)
            #expect(try JSONValue.parse(record.result?.body ?? Data()) == .object(["name": .string("one")]))
            #expect(record.inferenceTime != nil)
            #expect(record.finishedAt != nil)
            #expect(record.leaseOwner == nil)
            #expect(try await harness.store.logList(requestID: submitted.id, limit: 10).map(\.message) == ["started one"])
        }
        #expect(probe.started == ["one"])
    }

    /// With one slot, normal requests run before low ones, each priority first in, first out.
    @Test func priorityThenFIFO() async throws {
        let probe = Probe()
        let gate = Gate()
        let harness = Harness([registered(manifest("t/one", concurrency: 1), ProbeFunction(probe: probe, gate: gate))])
        try await harness.withDispatcher {
            let blocker = try await harness.submit("t/one", "blocker")
            #expect(await eventually { probe.started == ["blocker"] })
            var ids = [blocker.id]
            for (name, priority) in [("low1", RequestPriority.low), ("normal1", .normal), ("low2", .low), ("normal2", .normal)] {
                ids.append(try await harness.submit("t/one", name, priority: priority).id)
            }
            #expect(try await harness.queue.queuePosition(id: ids[1]) == 2)
            #expect(try await harness.queue.queuePosition(id: ids[2]) == 0)
            gate.open()
            for id in ids { _ = try await harness.waitFor(id, .succeeded) }
        }
        #expect(probe.started == ["blocker", "normal1", "normal2", "low1", "low2"])
        #expect(probe.maxConcurrent == 1)
    }

    /// A wide idle function claims once per submit, not once per free slot: one claimer takes the free permits and
    /// claims in one store call (idle polls add one claim per poll interval).
    @Test func wideFunctionClaimsOncePerSubmit() async throws {
        let probe = Probe()
        let harness = Harness([registered(manifest("t/wide", concurrency: 32), ProbeFunction(probe: probe))])
        try await harness.withDispatcher {
            #expect(await eventually { harness.store.claimCallCount > 0 })
            let started = ContinuousClock.now
            let before = harness.store.claimCallCount
            for index in 0..<20 {
                let submitted = try await harness.submit("t/wide", "r\(index)")
                _ = try await harness.waitFor(submitted.id, .succeeded)
            }
            let claims = harness.store.claimCallCount - before
            let polls = Int((ContinuousClock.now - started) / .seconds(harness.configuration.pollInterval)) + 2
            #expect(claims <= 2 * 20 + polls, "\(claims) claims for 20 submits")
        }
        #expect(probe.started.count == 20)
    }

    /// A submit to an idle function is stored claimed and starts at once; one that finds the function busy, or no
    /// dispatcher serving, is queued and claimed in turn.
    @Test func idleFunctionStartsAtSubmit() async throws {
        let probe = Probe()
        let gate = Gate()
        let harness = Harness([registered(manifest("t/one", concurrency: 1), ProbeFunction(probe: probe, gate: gate))])
        #expect(try await harness.submit("t/one", "early").state == .queued)
        try await harness.withDispatcher {
            #expect(await eventually { probe.started == ["early"] })
            let busy = try await harness.submit("t/one", "busy")
            #expect(busy.state == .queued)
            gate.open()
            _ = try await harness.waitFor(busy.id, .succeeded)
            // The run gives its slot back just after its outcome is stored.
            #expect(await eventually { harness.executor.limiter("t/one").freePermits == 1 })
            let idle = try await harness.submit("t/one", "idle")
            #expect(idle.state == .running && idle.attempt == 1 && idle.leaseOwner == harness.configuration.owner)
            _ = try await harness.waitFor(idle.id, .succeeded)
        }
        #expect(probe.started == ["early", "busy", "idle"])
    }

    /// A status read of a request whose outcome this process is storing waits for that write and answers with the
    /// outcome; any other running request is answered at once.
    @Test func statusWaitsForAnOutcomeBeingStored() async throws {
        let harness = Harness([registered(manifest("t/one"), ProbeFunction(probe: Probe()))])
        let submitted = try await harness.submit("t/one", "x")  // no dispatcher running: it stays queued
        let claimed = try #require(try await harness.store.requestClaim(RequestClaimParams(
            functionID: "t/one", owner: "elsewhere", now: Date(), leaseDuration: 60)).first)
        #expect(claimed.id == submitted.id)
        #expect(try await harness.queue.current(id: claimed.id, tenant: "t")?.state == .running)
        harness.dispatcher.state.withLock { _ = $0.recording.insert(claimed.id) }
        async let seen = harness.queue.current(id: claimed.id, tenant: "t")
        // The read has found it running and subscribed to its change.
        #expect(await eventually { harness.notifier.watchedKeyCount == 1 })
        let fence = try #require(LeaseFence(claimed))
        #expect(try await harness.store.requestSetSucceeded(RequestSucceededParams(
            fence: fence, result: RequestResult(status: 200, body: Data("{}".utf8)), inferenceTime: 0, now: Date())))
        harness.notifier.publish(NotifierKeys.request(claimed.id))
        #expect(try await seen?.state == .succeeded)
    }

    /// A function's manifest concurrency is never exceeded, whatever the backlog.
    @Test(arguments: [1, 3])
    func concurrencyLimit(limit: Int) async throws {
        let probe = Probe()
        let harness = Harness([registered(manifest("t/c", concurrency: limit), ProbeFunction(probe: probe, hold: .milliseconds(15)))])
        try await harness.withDispatcher {
            var ids: [String] = []
            for index in 0..<12 { ids.append(try await harness.submit("t/c", "r\(index)").id) }
            for id in ids { _ = try await harness.waitFor(id, .succeeded) }
        }
        #expect(probe.started.count == 12)
        #expect(probe.maxConcurrent <= limit)
    }

    /// Cancelling a running request stops the function cooperatively and ends the request `cancelled`.
    @Test func cancelRunning() async throws {
        let probe = Probe()
        let harness = Harness([registered(manifest("t/slow"), ProbeFunction(probe: probe, gate: Gate()))])
        try await harness.withDispatcher {
            let submitted = try await harness.submit("t/slow", "slow")
            _ = try await harness.waitFor(submitted.id, .running)
            #expect(await eventually { probe.started.count == 1 })
            #expect(try await harness.queue.cancel(id: submitted.id, tenant: "t") == .cancelRequested)
            let record = try await harness.waitFor(submitted.id, .cancelled)
            #expect(record.errorType == "request_cancelled")
            #expect(record.result?.status == 400)
            #expect(probe.cancellations == 1)
            #expect(try await harness.queue.cancel(id: submitted.id, tenant: "t") == .alreadyCompleted)
        }
    }

    /// A run whose lease was taken from it (here: released behind its back, as a rescue would) is stopped at the
    /// next heartbeat; its request goes on as a new attempt.
    @Test func runThatLostItsLeaseIsStopped() async throws {
        let probe = Probe()
        let gate = Gate()
        let harness = Harness([registered(manifest("t/slow"), ProbeFunction(probe: probe, gate: gate))])
        try await harness.withDispatcher {
            let submitted = try await harness.submit("t/slow", "slow")
            let running = try await harness.waitFor(submitted.id, .running)
            #expect(await eventually { probe.started.count == 1 })
            let fence = try #require(LeaseFence(running))
            #expect(try await harness.store.requestRelease(RequestReleaseParams(fence: fence)))
            #expect(await eventually { probe.cancellations == 1 })
            #expect(await eventually { probe.started.count == 2 })  // claimed again by the same dispatcher
            gate.open()
            #expect(try await harness.waitFor(submitted.id, .succeeded).attempt >= 1)
        }
    }

    /// A queued request is cancelled at once; another tenant's cancel finds nothing.
    @Test func cancelQueued() async throws {
        let harness = Harness([registered(manifest("t/q"), ProbeFunction(probe: Probe()))])
        let submitted = try await harness.submit("t/q", "q")
        #expect(try await harness.queue.cancel(id: submitted.id, tenant: "someone-else") == .notFound)
        #expect(try await harness.queue.cancel(id: submitted.id, tenant: "t") == .cancelled)
        #expect(try await harness.store.requestGet(id: submitted.id)?.state == .cancelled)
    }

    /// An attempt running past the manifest's timeout is stopped and fails with `request_timeout` (504).
    @Test func executionTimeout() async throws {
        let probe = Probe()
        let harness = Harness([registered(manifest("t/late", timeout: 0.2), ProbeFunction(probe: probe, gate: Gate()))])
        try await harness.withDispatcher {
            let submitted = try await harness.submit("t/late", "late")
            let record = try await harness.waitFor(submitted.id, .failed)
            #expect(record.errorType == "request_timeout")
            #expect(record.result?.status == 504)
            #expect(try JSONValue.parse(record.result?.body ?? Data())["error_type"] == .string("request_timeout"))
            #expect(probe.cancellations == 1)
        }
    }

    /// A thrown FunctionError becomes `failed` with its own status, type and envelope body.
    @Test func functionError() async throws {
        let error = FunctionError.failed("no teapot", errorType: "teapot", status: 418)
        let harness = Harness([registered(manifest("t/err"), ProbeFunction(probe: Probe(), error: error))])
        try await harness.withDispatcher {
            let submitted = try await harness.submit("t/err", "e")
            let record = try await harness.waitFor(submitted.id, .failed)
            #expect(record.attempt == 1)
            #expect(record.errorType == "teapot")
            #expect(record.errorMessage == "no teapot")
            #expect(record.result == RequestResult(status: 418, body: error.body()))
            #expect(try JSONValue.parse(error.body()) == .object(["detail": .string("no teapot"), "error_type": .string("teapot")]))
        }
    }

    /// Any other error is a 500 `function_error`, never retried.
    @Test func otherError() async throws {
        let harness = Harness([registered(manifest("t/boom"), ProbeFunction(probe: Probe(), error: Boom()))])
        try await harness.withDispatcher {
            let submitted = try await harness.submit("t/boom", "b")
            let record = try await harness.waitFor(submitted.id, .failed)
            #expect(record.errorType == "function_error")
            #expect(record.result?.status == 500)
            #expect(record.attempt == 1)
        }
    }

    /// Input that fails the Swift type's decoding is a 422 naming the field.
    @Test func decodingError() async throws {
        struct Typed: HostedFunction {
            struct Input: Decodable, Sendable { var count: Int }
            func run(_ input: Input, context: RunContext) async throws -> Int { input.count }
        }
        let harness = Harness([registered(manifest("t/typed"), Typed())])
        try await harness.withDispatcher {
            let submitted = try await harness.submit("t/typed", "no count")
            let record = try await harness.waitFor(submitted.id, .failed)
            #expect(record.result?.status == 422)
            let detail = try JSONValue.parse(record.result?.body ?? Data())["detail"]?.arrayValue?.first
            #expect(detail?["loc"] == .array([.string("body"), .string("count")]))
        }
    }
}
