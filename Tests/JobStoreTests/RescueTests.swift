import Foundation
import GantryCore
import Testing

/// Lease rescue and the races around it: a rescued attempt's late writes must change nothing.
@Suite struct RescueTests {
    @Test(arguments: StoreKind.allCases)
    func rescueRequeuesOnlyExpiredLeases(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "stale")
            try await insert(store, "fresh")
            _ = try await claim(store, now: at(0))   // lease until 60
            _ = try await claim(store, now: at(50))  // lease until 110
            let outcomes = try await store.requestRescue(RequestRescueParams(now: at(61)))
            #expect(outcomes == [RescueOutcome(id: "stale", functionID: "echo", state: .queued)])
            let stale = try #require(try await store.requestGet(id: "stale"))
            #expect(stale.state == .queued && stale.attempt == 1 && stale.leaseOwner == nil)
            #expect(stale.leaseExpiresAt == nil && stale.startedAt == nil)
            #expect(try await store.requestGet(id: "fresh")?.state == .running)
            #expect(try await store.requestQueuePosition(id: "stale") == 0)
            #expect(try await store.requestRescue(RequestRescueParams(now: at(61))).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func leaseExpiringExactlyNowIsNotRescued(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "r1")
            _ = try await claim(store, now: at(0))
            #expect(try await store.requestRescue(RequestRescueParams(now: at(60))).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func rescueAtMaxAttemptsFails(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "r1", maxAttempts: 2)
            _ = try await claim(store, now: at(0))
            #expect(try await store.requestRescue(RequestRescueParams(now: at(100))).map(\.state) == [.queued])
            #expect(try await claim(store, now: at(100))?.attempt == 2)
            let outcomes = try await store.requestRescue(RequestRescueParams(now: at(200)))
            #expect(outcomes == [RescueOutcome(id: "r1", functionID: "echo", state: .failed)])
            let failed = try #require(try await store.requestGet(id: "r1"))
            #expect(failed.state == .failed && failed.errorType == "runner_disconnected")
            #expect(failed.errorMessage?.isEmpty == false && same(failed.finishedAt, at(200)))
            #expect(failed.leaseOwner == nil && failed.leaseExpiresAt == nil && failed.result == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func includeUnexpiredLeasesRescuesEveryRunningRequest(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "a")
            try await insert(store, "b", function: "resize")
            try await insert(store, "queued")
            _ = try await claim(store, now: at(0))
            _ = try await claim(store, function: "resize", now: at(0))
            let outcomes = try await store.requestRescue(RequestRescueParams(now: at(1), includeUnexpiredLeases: true))
            #expect(outcomes.sorted { $0.id < $1.id } == [
                RescueOutcome(id: "a", functionID: "echo", state: .queued),
                RescueOutcome(id: "b", functionID: "resize", state: .queued),
            ])
            #expect(try await store.requestGet(id: "queued")?.attempt == 0)
        }
    }

    /// The lease race: attempt 1 stalls, is rescued and claimed again as attempt 2; when attempt 1 wakes up its
    /// heartbeat, progress, release and finish must all lose, and attempt 2's result must be the one visible.
    @Test(arguments: StoreKind.allCases)
    func rescuedAttemptCannotOverwriteItsSuccessor(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "r1")
            _ = try await claim(store, owner: "old", now: at(0))
            _ = try await store.requestRescue(RequestRescueParams(now: at(61)))
            let second = try #require(try await claim(store, owner: "new", now: at(62)))
            #expect(second.attempt == 2 && second.leaseOwner == "new")

            let oldBeat = RequestHeartbeatParams(fence: fence("r1", attempt: 1, owner: "old"), leaseExpiresAt: at(999))
            #expect(try await store.requestHeartbeat(oldBeat) == .lost)
            try await store.requestSetProgress(id: "r1", attempt: 1, progress: 0.9)
            #expect(try await !store.requestRelease(RequestReleaseParams(fence: fence("r1", attempt: 1, owner: "old"))))
            #expect(try await !succeed(store, "r1", attempt: 1, owner: "old", now: at(63), body: "stale"))
            let running = try #require(try await store.requestGet(id: "r1"))
            #expect(running.state == .running && running.attempt == 2 && running.progress == nil)
            #expect(same(running.leaseExpiresAt, at(122)) && running.result == nil)

            #expect(try await succeed(store, "r1", attempt: 2, owner: "new", now: at(70), body: "fresh"))
            #expect(try await !succeed(store, "r1", attempt: 1, now: at(71), body: "stale"))
            #expect(try await store.requestGet(id: "r1")?.result?.body == Data("fresh".utf8))
        }
    }

    /// River's rescuer bug (riverqueue/river#1302): a job completed between the rescuer's read and its update
    /// was rewritten. Here the finish lands in that gap and must survive.
    @Test(arguments: StoreKind.allCases)
    func finishBetweenRescueReadAndUpdateIsKept(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "r1")
            _ = try await claim(store, now: at(0))
            let outcomes = try await rescueInTwoHalves(store, RequestRescueParams(now: at(100))) { () async throws in
                #expect(try await succeed(store, "r1", attempt: 1, now: at(99)))
            }
            #expect(outcomes.isEmpty)
            let record = try #require(try await store.requestGet(id: "r1"))
            #expect(record.state == .succeeded && record.result?.body == Data("ok".utf8))
        }
    }

    /// A slow worker renews its lease after the rescuer read it as expired: the renewed attempt stays running.
    @Test(arguments: StoreKind.allCases)
    func heartbeatBetweenRescueReadAndUpdateIsKept(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "r1")
            _ = try await claim(store, now: at(0))
            let outcomes = try await rescueInTwoHalves(store, RequestRescueParams(now: at(100))) { () async throws in
                let beat = RequestHeartbeatParams(fence: fence("r1", attempt: 1), leaseExpiresAt: at(160))
                #expect(try await store.requestHeartbeat(beat) == .renewed(cancelRequested: false))
            }
            #expect(outcomes.isEmpty)
            #expect(try await store.requestGet(id: "r1")?.state == .running)
        }
    }

    /// The gap may also see the attempt rescued and re-claimed by another sweeper: the stale candidate
    /// (attempt 1) must not touch attempt 2.
    @Test(arguments: StoreKind.allCases)
    func reclaimBetweenRescueReadAndUpdateIsKept(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "r1")
            _ = try await claim(store, now: at(0))
            let outcomes = try await rescueInTwoHalves(store, RequestRescueParams(now: at(100))) { () async throws in
                #expect(try await store.requestRescue(RequestRescueParams(now: at(100))).count == 1)
                // Its lease (until 90) has expired too by the first sweep's clock: only the attempt guards it.
                #expect(try await claim(store, owner: "next", now: at(30))?.attempt == 2)
            }
            #expect(outcomes.isEmpty)
            let record = try #require(try await store.requestGet(id: "r1"))
            #expect(record.state == .running && record.attempt == 2 && record.leaseOwner == "next")
        }
    }
}
