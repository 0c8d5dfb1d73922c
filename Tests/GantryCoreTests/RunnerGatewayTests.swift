import Foundation
@testable import GantryCore
import Testing

/// The runner protocol's semantics without HTTP: registration, long-poll claims, heartbeats and cancels, fenced
/// results, lease expiry, timeouts and release, through the gateway over an in-memory store.
@Suite("Runner gateway")
struct RunnerGatewayTests {
    static let token = RunnerToken(id: "gpu1", secret: "s3cret-long", globs: ["acme/*"])

    static let declaration: JSONValue = .object([
        "id": .string("acme/blur"), "concurrency": .number(2), "timeout_seconds": .number(30), "max_attempts": .number(2),
        "input_schema": .object(["type": .string("object"), "properties": .object(["radius": .object(["type": .string("integer"), "default": .number(3)])]),
                                 "required": .array([.string("image_url")])]),
        "output_schema": .object(["type": .string("object")]),
    ])

    /// A harness with `acme/blur` registered by instance `box`.
    private func registered(clock: TestClock? = nil, leaseDuration: TimeInterval = 5) async throws -> Harness {
        let harness = Harness([], leaseDuration: leaseDuration, clock: clock)
        let results = try await harness.runners.register(token: Self.token, instance: "box", sdk: "test", functions: [Self.declaration])
        #expect(results == [.init(functionID: "acme/blur", changed: true, replacesBuiltin: false)])
        return harness
    }

    private func submit(_ harness: Harness, _ input: JSONValue = .object(["image_url": .string("x")])) async throws -> RequestRecord {
        let function = try #require(harness.queue.function(id: "acme/blur"))
        return try await harness.queue.submit(.init(try harness.queue.admit(function, input: input), tenant: "t")).record
    }

    private func claim(_ harness: Harness, instance: String = "box", max: Int = 4, wait: TimeInterval = 0) async throws -> [RunnerGateway.Job] {
        try await harness.runners.claim(token: Self.token, instance: instance, functionIDs: ["acme/blur"], max: max, wait: wait)
    }

    @Test func registrationIsPersistedAndValidatesSubmissions() async throws {
        let harness = try await registered()
        #expect(try await harness.store.functionRegistrationList().map(\.functionID) == ["acme/blur"])
        let function = try #require(harness.queue.function(id: "acme/blur"))
        #expect(function.isRunnerFunction && function.manifest.concurrency == 2 && function.manifest.maxAttempts == 2)
        // The declared schema validates (422 naming the field) and fills defaults, with no runner claiming.
        #expect(throws: FunctionError.self) { try harness.queue.admit(function, input: .object([:])) }
        let admitted = try harness.queue.admit(function, input: .object(["image_url": .string("x")]))
        #expect(try JSONValue.parse(admitted.input)["radius"] == .number(3))
        // The same declaration again changes nothing; a new one is taken.
        #expect(try await harness.runners.register(token: Self.token, instance: "box", sdk: nil, functions: [Self.declaration]).first?.changed == false)
        var changed = Self.declaration.objectValue!
        changed["concurrency"] = .number(5)
        #expect(try await harness.runners.register(token: Self.token, instance: "box", sdk: nil, functions: [.object(changed)]).first?.changed == true)
        #expect(harness.queue.function(id: "acme/blur")?.manifest.concurrency == 5)
    }

    @Test func registrationRefusals() async throws {
        let harness = Harness([])
        func refusal(_ functions: [JSONValue], instance: String = "box") async -> RunnerError? {
            do {
                _ = try await harness.runners.register(token: Self.token, instance: instance, sdk: nil, functions: functions)
                return nil
            } catch {
                return error as? RunnerError
            }
        }
        var outside = Self.declaration.objectValue!
        outside["id"] = .string("other/blur")
        #expect(await refusal([.object(outside)])?.status == 403)
        var badConcurrency = Self.declaration.objectValue!
        badConcurrency["concurrency"] = .number(0)
        let error = await refusal([.object(badConcurrency)])
        #expect(error?.status == 422)
        #expect(error?.envelope.detail == .issues([ValidationIssue(loc: ["body", "functions", 0, "concurrency"], msg: "Must be an integer from 1 to 1024", type: "value_error")]))
        var noSchema = Self.declaration.objectValue!
        noSchema["input_schema"] = .string("nope")
        #expect(await refusal([.object(noSchema)])?.status == 422)
        #expect(await refusal([Self.declaration], instance: "bad instance")?.status == 422)
        #expect(await refusal([Self.declaration, Self.declaration])?.status == 422)
        #expect(try await harness.store.functionRegistrationList().isEmpty)
    }

    /// A claim waiting on an empty queue is woken by the submit, not by a poll interval.
    @Test func submitWakesAWaitingClaim() async throws {
        let harness = try await registered()
        let started = ContinuousClock.now
        async let claimed = claim(harness, wait: 20)
        // Submit once the claim waits (its subscription is the notifier's only one), so the wake-up is what is tested.
        try #require(await eventually { harness.notifier.watchedKeyCount > 0 })
        let record = try await submit(harness)
        let jobs = try await claimed
        #expect(jobs.map(\.record.id) == [record.id])
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(jobs[0].leaseToken == "1:box" && jobs[0].record.leaseOwner == "runner:gpu1:box")
        #expect(try await claim(harness, wait: 0.05).isEmpty)
    }

    @Test func claimRefusesUnknownAndForbiddenFunctions() async throws {
        let harness = try await registered()
        await #expect(throws: RunnerError.forbidden("other/x")) {
            _ = try await harness.runners.claim(token: Self.token, instance: "box", functionIDs: ["other/x"], max: 1, wait: 0)
        }
        await #expect(throws: RunnerError.functionNotFound("acme/unknown")) {
            _ = try await harness.runners.claim(token: Self.token, instance: "box", functionIDs: ["acme/unknown"], max: 1, wait: 0)
        }
    }

    /// A cancel reaches a heartbeat that is waiting, including for a request claimed after it started waiting.
    @Test func cancelReachesAWaitingHeartbeat() async throws {
        // A long lease allows a 60 s wait: an answer well before it can only be the cancel's doing.
        let harness = try await registered(leaseDuration: 600)
        let record = try await submit(harness)
        let job = try #require(try await claim(harness).first)
        let started = ContinuousClock.now
        async let answer = harness.runners.heartbeat(token: Self.token, instance: "box", inFlight: [], wait: 60)
        try #require(await eventually { harness.notifier.watchedKeyCount > 0 })
        #expect(try await harness.queue.cancel(id: record.id, tenant: "t") == .cancelRequested)
        let heard = try await answer
        #expect(heard.cancel == [record.id] && heard.lost.isEmpty)
        #expect(ContinuousClock.now - started < .seconds(30))
        // The next heartbeat still reports it from the row's flag.
        let again = try await harness.runners.heartbeat(token: Self.token, instance: "box", inFlight: [(record.id, job.leaseToken, false)], wait: 0)
        #expect(again.cancel == [record.id])
        // Once acknowledged it is not repeated, so the poll waits for news again.
        let acknowledged = try await harness.runners.heartbeat(token: Self.token, instance: "box", inFlight: [(record.id, job.leaseToken, true)], wait: 0.2)
        #expect(acknowledged.cancel.isEmpty && acknowledged.lost.isEmpty)
        // The runner reports the cancel: the request ends cancelled.
        let completed = try await harness.runners.complete(token: Self.token, requestID: record.id, leaseToken: job.leaseToken,
                                                          outcome: .failure(message: "stopped", errorType: "request_cancelled", inputError: false, loc: []))
        #expect(completed == .init(state: .cancelled, duplicate: false))
    }

    /// A runner that stops heartbeating loses the lease: the sweeper requeues with the attempt counted, the old
    /// token answers 409 and changes nothing, and the next claim's result is the one that counts.
    @Test func lostLeaseFencesTheStaleRunner() async throws {
        let clock = TestClock()
        let harness = try await registered(clock: clock)
        let record = try await submit(harness)
        let first = try #require(try await claim(harness, instance: "old").first)
        clock.advance(6)  // past the harness's 5 s lease
        try await harness.sweeper.sweepOnce()
        #expect(try await harness.store.requestGet(id: record.id)?.state == .queued)
        let second = try #require(try await claim(harness, instance: "new").first)
        #expect(second.record.attempt == 2 && second.leaseToken == "2:new")

        let stale = try await harness.runners.heartbeat(token: Self.token, instance: "old", inFlight: [(record.id, first.leaseToken, false)], wait: 0)
        #expect(stale.lost == [record.id])
        await #expect(throws: RunnerError.leaseLost(record.id)) {
            _ = try await harness.runners.complete(token: Self.token, requestID: record.id, leaseToken: first.leaseToken,
                                                   outcome: .output(Data(#"{"from":"old"}"#.utf8)))
        }
        await #expect(throws: RunnerError.leaseLost(record.id)) {
            _ = try await harness.runners.events(token: Self.token, requestID: record.id, leaseToken: first.leaseToken,
                                                 logs: [LogEntry(message: "late", timestamp: clock.now)], progress: 0.5, partialOutputs: [])
        }
        let output = Data(#"{"from":"new"}"#.utf8)
        #expect(try await harness.runners.complete(token: Self.token, requestID: record.id, leaseToken: second.leaseToken, outcome: .output(output))
                == .init(state: .succeeded, duplicate: false))
        // The same post again is harmless; a different one for the same attempt is not accepted.
        #expect(try await harness.runners.complete(token: Self.token, requestID: record.id, leaseToken: second.leaseToken, outcome: .output(output))
                == .init(state: .succeeded, duplicate: true))
        await #expect(throws: RunnerError.leaseLost(record.id)) {
            _ = try await harness.runners.complete(token: Self.token, requestID: record.id, leaseToken: second.leaseToken,
                                                   outcome: .output(Data(#"{"other":1}"#.utf8)))
        }
        let done = try #require(try await harness.store.requestGet(id: record.id))
        #expect(done.state == .succeeded && done.attempt == 2 && done.result?.body == output)
        // The stale runner's late line was refused; the request's logs say what happened to attempt 1.
        #expect(try await harness.store.logList(requestID: record.id, limit: 10).map(\.message)
                == ["attempt 1 of 2 lost: its runner stopped renewing the lease; queued again for attempt 2"])
    }

    /// After `max_attempts` silent runners the request fails `runner_disconnected`.
    @Test func exhaustedAttemptsFailRunnerDisconnected() async throws {
        let clock = TestClock()
        let harness = try await registered(clock: clock)
        let record = try await submit(harness)
        for _ in 0..<2 {
            #expect(try await claim(harness).count == 1)
            clock.advance(6)
            try await harness.sweeper.sweepOnce()
        }
        let failed = try #require(try await harness.store.requestGet(id: record.id))
        #expect(failed.state == .failed && failed.errorType == "runner_disconnected" && failed.attempt == 2)
    }

    /// An attempt that runs past its function's timeout is ended by the host (504) and heard of as a cancel.
    @Test func overdueAttemptIsTimedOut() async throws {
        let clock = TestClock()
        let harness = try await registered(clock: clock)
        let record = try await submit(harness)
        let job = try #require(try await claim(harness).first)
        clock.advance(4)
        _ = try await harness.runners.heartbeat(token: Self.token, instance: "box", inFlight: [(record.id, job.leaseToken, false)], wait: 0)
        await harness.runners.endOverdueAttempts()
        #expect(try await harness.store.requestGet(id: record.id)?.state == .running)
        clock.advance(30)
        _ = try await harness.runners.heartbeat(token: Self.token, instance: "box", inFlight: [(record.id, job.leaseToken, false)], wait: 0)
        await harness.runners.endOverdueAttempts()
        let timedOut = try #require(try await harness.store.requestGet(id: record.id))
        #expect(timedOut.state == .failed && timedOut.errorType == "request_timeout" && timedOut.result?.status == 504)
        let answer = try await harness.runners.heartbeat(token: Self.token, instance: "box", inFlight: [(record.id, job.leaseToken, false)], wait: 0)
        #expect(answer.lost == [record.id])
    }

    /// Events store logs and progress and publish partial outputs; an input error fails with 422 naming the field.
    @Test func eventsAndInputErrors() async throws {
        let harness = try await registered()
        let record = try await submit(harness)
        let job = try #require(try await claim(harness).first)
        let cancel = try await harness.runners.events(token: Self.token, requestID: record.id, leaseToken: job.leaseToken,
                                                      logs: [LogEntry(message: "one", timestamp: Date()), LogEntry(message: "two", timestamp: Date())],
                                                      progress: 0.25, partialOutputs: [.object(["step": .number(1)])])
        #expect(!cancel)
        #expect(try await harness.store.logList(requestID: record.id, limit: 10).map(\.message) == ["one", "two"])
        #expect(try await harness.store.requestGet(id: record.id)?.progress == 0.25)
        #expect(harness.queue.partialOutputs(id: record.id, from: 0) == [.object(["step": .number(1)])])
        let completed = try await harness.runners.complete(token: Self.token, requestID: record.id, leaseToken: job.leaseToken,
                                                          outcome: .failure(message: "radius must be odd", errorType: nil, inputError: true, loc: ["radius"]))
        #expect(completed.state == .failed)
        let failed = try #require(try await harness.store.requestGet(id: record.id))
        #expect(failed.result?.status == 422)
        #expect(ErrorEnvelope(parsing: failed.result!.body)?.detail == .issues([ValidationIssue(loc: ["body", "radius"], msg: "radius must be odd", type: "value_error")]))
    }

    /// Release gives the request back uncounted; a runner function's sync run waits for a runner through the queue.
    @Test func releaseAndSyncRun() async throws {
        let harness = try await registered()
        let record = try await submit(harness)
        let job = try #require(try await claim(harness).first)
        try await harness.runners.release(token: Self.token, requestID: record.id, leaseToken: job.leaseToken)
        let released = try #require(try await harness.store.requestGet(id: record.id))
        #expect(released.state == .queued && released.attempt == 0)
        _ = try await claim(harness)

        let function = try #require(harness.queue.function(id: "acme/blur"))
        async let answer = harness.queue.run(try harness.queue.admit(function, input: .object(["image_url": .string("y")])), tenant: "t")
        let syncJob = try #require(try await claim(harness, wait: 10).first)
        _ = try await harness.runners.complete(token: Self.token, requestID: syncJob.record.id, leaseToken: syncJob.leaseToken,
                                               outcome: .output(Data(#"{"ok":true}"#.utf8)))
        let completed = try await answer
        #expect(completed.requestID == syncJob.record.id && completed.completion == .succeeded(Data(#"{"ok":true}"#.utf8)))
    }

    /// A runner may take over a built-in id its token covers; unregistering gives it back. A stored registration no
    /// configured token may serve is not installed at start-up.
    @Test func takeOverUnregisterAndStoredRegistrations() async throws {
        let builtin = GantryCoreTests.registered(manifest("acme/blur"), ProbeFunction(probe: Probe()))
        let harness = Harness([builtin])
        #expect(harness.queue.function(id: "acme/blur")?.isRunnerFunction == false)
        let results = try await harness.runners.register(token: Self.token, instance: "box", sdk: nil, functions: [Self.declaration])
        #expect(results.first?.replacesBuiltin == true)
        #expect(harness.queue.function(id: "acme/blur")?.isRunnerFunction == true)
        try await harness.runners.unregister(token: Self.token, functionID: "acme/blur")
        #expect(harness.queue.function(id: "acme/blur")?.isRunnerFunction == false)
        await #expect(throws: RunnerError.functionNotFound("acme/blur")) {
            try await harness.runners.unregister(token: Self.token, functionID: "acme/blur")
        }
        await #expect(throws: RunnerError.forbidden("other/x")) {
            try await harness.runners.unregister(token: Self.token, functionID: "other/x")
        }

        // A fresh gateway over the same store: installed only while a token may serve it.
        _ = try await harness.runners.register(token: Self.token, instance: "box", sdk: nil, functions: [Self.declaration])
        let restarted = Harness([builtin])
        for registration in try await harness.store.functionRegistrationList() {
            _ = try await restarted.store.functionRegistrationUpsert(registration)
        }
        try await restarted.runners.installStoredRegistrations(servableBy: [])
        #expect(restarted.queue.function(id: "acme/blur")?.isRunnerFunction == false)
        try await restarted.runners.installStoredRegistrations(servableBy: [Self.token])
        #expect(restarted.queue.function(id: "acme/blur")?.isRunnerFunction == true)
    }
}
