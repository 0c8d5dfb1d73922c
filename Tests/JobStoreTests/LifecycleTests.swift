import Foundation
import GantryCore
import Testing

/// Heartbeat, finish, cancel, release and progress: the guarded transitions of a running attempt.
@Suite struct LifecycleTests {
    @Test(arguments: StoreKind.allCases)
    func heartbeatRenewsAndReportsCancel(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "r1")
            _ = try await claim(store, now: at(1))
            let beat = RequestHeartbeatParams(fence: fence("r1", attempt: 1), leaseExpiresAt: at(100))
            #expect(try await store.requestHeartbeat(beat) == .renewed(cancelRequested: false))
            #expect(same(try await store.requestGet(id: "r1")?.leaseExpiresAt, at(100)))
            _ = try await store.requestCancel(id: "r1", now: at(2))
            #expect(try await store.requestHeartbeat(beat) == .renewed(cancelRequested: true))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func heartbeatOfWrongAttemptOrFinishedRequestIsLost(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "r1")
            _ = try await claim(store)
            let wrong = RequestHeartbeatParams(fence: fence("r1", attempt: 2), leaseExpiresAt: at(500))
            #expect(try await store.requestHeartbeat(wrong) == .lost)
            #expect(same(try await store.requestGet(id: "r1")?.leaseExpiresAt, at(61)))
            #expect(try await succeed(store, "r1", attempt: 1))
            let late = RequestHeartbeatParams(fence: fence("r1", attempt: 1), leaseExpiresAt: at(500))
            #expect(try await store.requestHeartbeat(late) == .lost)
            #expect(try await store.requestGet(id: "r1")?.leaseExpiresAt == nil)
            let unknown = RequestHeartbeatParams(fence: fence("nope", attempt: 1), leaseExpiresAt: at(500))
            #expect(try await store.requestHeartbeat(unknown) == .lost)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func finishIsGuardedByStateAndAttempt(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "queued")
            #expect(try await !succeed(store, "queued", attempt: 0))
            #expect(try await !succeed(store, "queued", attempt: 1))
            #expect(try await store.requestGet(id: "queued")?.state == .queued)

            try await insert(store, "r1", function: "resize")
            _ = try await claim(store, function: "resize")
            #expect(try await !succeed(store, "r1", attempt: 2, body: "wrong"))
            let untouched = try #require(try await store.requestGet(id: "r1"))
            #expect(untouched.state == .running && untouched.result == nil && untouched.finishedAt == nil)

            #expect(try await succeed(store, "r1", attempt: 1, now: at(9), body: "right"))
            let done = try #require(try await store.requestGet(id: "r1"))
            #expect(done.state == .succeeded && done.result == RequestResult(status: 200, body: Data("right".utf8)))
            #expect(done.inferenceTime == 1.5 && same(done.finishedAt, at(9)) && done.leaseOwner == nil)
            #expect(done.errorMessage == nil && done.errorType == nil)

            // A second finish of the same attempt (a retried call) must not replace the visible result.
            #expect(try await !succeed(store, "r1", attempt: 1, now: at(10), body: "again"))
            #expect(try await store.requestGet(id: "r1")?.result?.body == Data("right".utf8))
            #expect(try await !succeed(store, "missing", attempt: 1))
        }
    }

    /// The record a terminal write returns is the stored one: the host keeps it in memory and answers later polls
    /// with it, so it must equal what any read gives back, field for field, for each kind of ending.
    @Test(arguments: StoreKind.allCases)
    func finishReturnsTheStoredRecord(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let updates: [(String, TerminalUpdate)] = [
                ("ok", TerminalUpdate(RequestSucceededParams(fence: fence("ok", attempt: 1), result: RequestResult(status: 200, body: Data("out".utf8)),
                                                             inferenceTime: 0.25, now: at(7.125)))),
                ("bad", TerminalUpdate(RequestFailedParams(fence: fence("bad", attempt: 1), result: RequestResult(status: 500, body: Data("{}".utf8)),
                                                           errorMessage: "boom", errorType: "internal_error", inferenceTime: nil, now: at(8)))),
                ("stop", TerminalUpdate(RequestCancelledParams(fence: fence("stop", attempt: 1), result: Completion.cancelled.result, now: at(9)))),
            ]
            for (id, _) in updates { try await insert(store, id) }
            for _ in updates { _ = try #require(try await claim(store)) }
            _ = try await store.requestCancel(id: "stop", now: at(2))
            try await store.requestSetProgress(id: "ok", attempt: 1, progress: 0.5)
            for (id, update) in updates {
                let returned = try #require(try await store.requestFinish(update))
                #expect(returned.state.isTerminal && returned.state == update.state)
                #expect(try await store.requestGet(id: id) == returned)
                #expect(try await store.requestFinish(update) == nil)
            }
            #expect(try await store.requestFinish(TerminalUpdate(RequestSucceededParams(
                fence: fence("missing", attempt: 1), result: RequestResult(status: 200, body: Data()), now: at(9)))) == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func finishAsCancelledAfterACancelRequest(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "r1")
            _ = try await claim(store)
            #expect(try await store.requestCancel(id: "r1", now: at(2)) == .cancelRequested)
            #expect(try await store.requestCancel(id: "r1", now: at(3)) == .cancelRequested)
            #expect(try await store.requestGet(id: "r1")?.state == .running)
            let cancelled = Completion.cancelled.result
            #expect(try await store.requestSetCancelled(RequestCancelledParams(fence: fence("r1", attempt: 1), result: cancelled, now: at(4))))
            let record = try #require(try await store.requestGet(id: "r1"))
            #expect(record.state == .cancelled && record.result == cancelled && same(record.finishedAt, at(4)))
            #expect(record.errorType == "request_cancelled")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func cancelOutcomes(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "queued")
            #expect(try await store.requestCancel(id: "queued", now: at(7)) == .cancelled)
            let cancelled = try #require(try await store.requestGet(id: "queued"))
            #expect(cancelled.state == .cancelled && same(cancelled.finishedAt, at(7)) && !cancelled.cancelRequested)
            #expect(try await claim(store) == nil)
            #expect(try await store.requestCancel(id: "queued", now: at(8)) == .alreadyCompleted)

            try await insert(store, "running")
            _ = try await claim(store)
            #expect(try await store.requestCancel(id: "running", now: at(8)) == .cancelRequested)
            let running = try #require(try await store.requestGet(id: "running"))
            #expect(running.state == .running && running.cancelRequested && running.finishedAt == nil)

            #expect(try await succeed(store, "running", attempt: 1))
            #expect(try await store.requestCancel(id: "running", now: at(9)) == .alreadyCompleted)
            #expect(try await store.requestGet(id: "running")?.state == .succeeded)
            #expect(try await store.requestCancel(id: "missing", now: at(9)) == .notFound)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func releaseRequeuesWithoutCountingTheAttempt(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "r1")
            _ = try await claim(store)
            try await store.requestSetProgress(id: "r1", attempt: 1, progress: 0.5)
            #expect(try await !store.requestRelease(RequestReleaseParams(fence: fence("r1", attempt: 2))))
            #expect(try await store.requestRelease(RequestReleaseParams(fence: fence("r1", attempt: 1))))
            let released = try #require(try await store.requestGet(id: "r1"))
            #expect(released.state == .queued && released.attempt == 0)
            #expect(released.leaseOwner == nil && released.leaseExpiresAt == nil && released.progress == nil)
            #expect(try await !store.requestRelease(RequestReleaseParams(fence: fence("r1", attempt: 1))))
            #expect(try await claim(store)?.attempt == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func setProgressOnlyTouchesTheRunningAttempt(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "r1")
            try await store.requestSetProgress(id: "r1", attempt: 0, progress: 0.1)
            #expect(try await store.requestGet(id: "r1")?.progress == nil)
            _ = try await claim(store)
            try await store.requestSetProgress(id: "r1", attempt: 1, progress: 0.4)
            try await store.requestSetProgress(id: "r1", attempt: 2, progress: 0.9)
            #expect(try await store.requestGet(id: "r1")?.progress == 0.4)
            try await store.requestSetProgress(id: "r1", attempt: 1, progress: 1.7)
            #expect(try await store.requestGet(id: "r1")?.progress == 1)
            #expect(try await succeed(store, "r1", attempt: 1))
            try await store.requestSetProgress(id: "r1", attempt: 1, progress: 0.2)
            #expect(try await store.requestGet(id: "r1")?.progress == 1)
        }
    }
}
