import Foundation
@testable import GantryCore
import Testing

/// Claims over several functions, batched heartbeats, the running list, owner fences and the rescue that spares
/// runner leases: the store operations the runner protocol stands on, on every store.
@Suite struct ClaimBatchTests {
    /// A claim across functions takes the best priority first, then the oldest across all of them, up to the limit.
    @Test(arguments: StoreKind.allCases)
    func claimAcrossFunctionsIsFIFOWithinPriority(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "a1", function: "a")
            try await insert(store, "b1", function: "b", priority: .low)
            try await insert(store, "b2", function: "b")
            try await insert(store, "a2", function: "a")
            try await insert(store, "c1", function: "c")
            let first = try await store.requestClaim(RequestClaimParams(functionIDs: ["a", "b"], owner: "runner:r:x", limit: 3, now: at(1), leaseDuration: 60))
            #expect(first.map(\.id) == ["a1", "b2", "a2"])
            #expect(first.allSatisfy { $0.state == .running && $0.attempt == 1 && $0.leaseOwner == "runner:r:x" })
            let rest = try await store.requestClaim(RequestClaimParams(functionIDs: ["a", "b"], owner: "runner:r:x", limit: 3, now: at(1), leaseDuration: 60))
            #expect(rest.map(\.id) == ["b1"])
            #expect(try await store.requestClaim(RequestClaimParams(functionIDs: ["a", "b"], owner: "o", limit: 3, now: at(1), leaseDuration: 60)).isEmpty)
            #expect(try await store.requestGet(id: "c1")?.state == .queued)
        }
    }

    /// A batch claim skips overdue requests and never claims one twice.
    @Test(arguments: StoreKind.allCases)
    func batchClaimSkipsOverdueAndDoesNotRepeat(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "late", startDeadline: at(0.5))
            for index in 0..<5 { try await insert(store, "r\(index)") }
            var seen: [String] = []
            while case let batch = try await store.requestClaim(RequestClaimParams(functionIDs: ["echo"], owner: "o", limit: 2, now: at(1), leaseDuration: 60)),
                  !batch.isEmpty {
                #expect(batch.count <= 2)
                seen += batch.map(\.id)
            }
            #expect(seen == ["r0", "r1", "r2", "r3", "r4"])
            #expect(try await store.requestGet(id: "late")?.state == .queued)
        }
    }

    /// Heartbeats come back one per item, in order; an item whose owner or attempt does not match is lost.
    @Test(arguments: StoreKind.allCases)
    func batchedHeartbeatIsFencedPerItem(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            for id in ["r1", "r2", "r3"] { try await insert(store, id) }
            _ = try await store.requestClaim(RequestClaimParams(functionIDs: ["echo"], owner: "w", limit: 3, now: at(1), leaseDuration: 60))
            _ = try await store.requestCancel(id: "r2", now: at(2))
            let outcomes = try await store.requestHeartbeat([
                RequestHeartbeatParams(fence: fence("r1", attempt: 1, owner: "w"), leaseExpiresAt: at(90)),
                RequestHeartbeatParams(fence: fence("r2", attempt: 1, owner: "w"), leaseExpiresAt: at(90)),
                RequestHeartbeatParams(fence: fence("r3", attempt: 1, owner: "someone-else"), leaseExpiresAt: at(90)),
                RequestHeartbeatParams(fence: fence("r1", attempt: 2, owner: "w"), leaseExpiresAt: at(90)),
            ])
            #expect(outcomes == [.renewed(cancelRequested: false), .renewed(cancelRequested: true), .lost, .lost])
            #expect(same(try await store.requestGet(id: "r1")?.leaseExpiresAt, at(90)))
            #expect(same(try await store.requestGet(id: "r3")?.leaseExpiresAt, at(61)))
            #expect(try await store.requestHeartbeat([]).isEmpty)
        }
    }

    /// Every transition of a running attempt names its owner: another owner with the right attempt changes nothing.
    @Test(arguments: StoreKind.allCases)
    func transitionsAreFencedByOwner(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "r1")
            _ = try await claim(store, owner: "runner:a:1")
            let impostor = fence("r1", attempt: 1, owner: "runner:a:2")
            let result = RequestResult(status: 200, body: Data("{}".utf8))
            #expect(try await !store.requestSetSucceeded(RequestSucceededParams(fence: impostor, result: result, now: at(2))))
            #expect(try await !store.requestSetFailed(RequestFailedParams(fence: impostor, result: result, errorMessage: "x", errorType: "y", now: at(2))))
            #expect(try await !store.requestSetCancelled(RequestCancelledParams(fence: impostor, result: result, now: at(2))))
            #expect(try await !store.requestRelease(RequestReleaseParams(fence: impostor)))
            #expect(try await store.requestGet(id: "r1")?.state == .running)
            #expect(try await store.requestSetFailed(RequestFailedParams(
                fence: fence("r1", attempt: 1, owner: "runner:a:1"), result: result, errorMessage: "boom", errorType: "function_error", now: at(3))))
            let failed = try #require(try await store.requestGet(id: "r1"))
            #expect(failed.state == .failed && failed.errorMessage == "boom" && failed.errorType == "function_error" && failed.leaseOwner == nil)
        }
    }

    /// The running list holds exactly the running requests of the named functions, oldest first.
    @Test(arguments: StoreKind.allCases)
    func listRunning(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            for id in ["a1", "a2", "a3"] { try await insert(store, id, function: "a") }
            try await insert(store, "b1", function: "b")
            _ = try await store.requestClaim(RequestClaimParams(functionIDs: ["a", "b"], owner: "w", limit: 4, now: at(1), leaseDuration: 60))
            #expect(try await succeed(store, "a2", attempt: 1, owner: "w"))
            #expect(try await store.requestListRunning(functionIDs: ["a", "b"]).map(\.id) == ["a1", "a3", "b1"])
            #expect(try await store.requestListRunning(functionIDs: ["b"]).map(\.id) == ["b1"])
            #expect(try await store.requestListRunning(functionIDs: ["c"]).isEmpty)
        }
    }

    /// At start-up every in-process lease is rescued, but a runner's unexpired lease is spared: the runner is
    /// another process and goes on working (and heartbeating) across the host's restart.
    @Test(arguments: StoreKind.allCases)
    func startupRescueSparesUnexpiredRunnerLeases(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            for id in ["host", "runner-live", "runner-dead"] { try await insert(store, id) }
            _ = try await claim(store, owner: "gantry-old", now: at(10))
            _ = try await claim(store, owner: "runner:gpu:box", now: at(10))
            _ = try await claim(store, owner: "runner:gpu:gone", now: at(-100))
            let outcomes = try await store.requestRescue(RequestRescueParams(now: at(20), includeUnexpiredLeases: true, sparingOwnerPrefix: "runner:"))
            #expect(Set(outcomes.map(\.id)) == ["host", "runner-dead"])
            #expect(try await store.requestGet(id: "runner-live")?.state == .running)
            #expect(try await store.requestGet(id: "host")?.state == .queued)
        }
    }

    /// A cancel asked for while an attempt ran ends the request when the attempt is given back or rescued,
    /// instead of queueing work nobody wants.
    @Test(arguments: StoreKind.allCases)
    func pendingCancelEndsReleasedAndRescuedRequests(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            for id in ["released", "rescued", "plain"] { try await insert(store, id) }
            _ = try await store.requestClaim(RequestClaimParams(functionIDs: ["echo"], owner: "w", limit: 3, now: at(1), leaseDuration: 60))
            _ = try await store.requestCancel(id: "released", now: at(2))
            _ = try await store.requestCancel(id: "rescued", now: at(2))
            #expect(try await store.requestRelease(RequestReleaseParams(fence: fence("released", attempt: 1, owner: "w"), now: at(3))))
            let released = try #require(try await store.requestGet(id: "released"))
            #expect(released.state == .cancelled && released.errorType == "request_cancelled" && same(released.finishedAt, at(3)))
            let rescued = try await store.requestRescue(RequestRescueParams(now: at(100)))
            #expect(rescued.map(\.state) == [.cancelled, .queued] && rescued.map(\.id) == ["rescued", "plain"])
            #expect(try await store.requestGet(id: "rescued")?.state == .cancelled)
        }
    }

    /// Registrations persist, report whether the declaration changed, list in id order and can be removed.
    @Test(arguments: StoreKind.allCases)
    func functionRegistrations(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let first = FunctionRegistration(functionID: "acme/blur", declaration: Data(#"{"id":"acme/blur","v":1}"#.utf8), registeredBy: "gpu1", updatedAt: at(1))
            #expect(try await store.functionRegistrationUpsert(first))
            #expect(try await !store.functionRegistrationUpsert(FunctionRegistration(
                functionID: "acme/blur", declaration: first.declaration, registeredBy: "gpu2", updatedAt: at(2))))
            let changed = FunctionRegistration(functionID: "acme/blur", declaration: Data(#"{"id":"acme/blur","v":2}"#.utf8), registeredBy: "gpu2", updatedAt: at(3))
            #expect(try await store.functionRegistrationUpsert(changed))
            #expect(try await store.functionRegistrationUpsert(FunctionRegistration(
                functionID: "acme/a", declaration: Data("{}".utf8), registeredBy: "gpu1", updatedAt: at(4))))
            let listed = try await store.functionRegistrationList()
            #expect(listed.map(\.functionID) == ["acme/a", "acme/blur"])
            #expect(listed[1].declaration == changed.declaration && listed[1].registeredBy == "gpu2" && same(listed[1].updatedAt, at(3)))
            #expect(try await store.functionRegistrationDelete(functionID: "acme/a"))
            #expect(try await !store.functionRegistrationDelete(functionID: "acme/a"))
            #expect(try await store.functionRegistrationList().map(\.functionID) == ["acme/blur"])
        }
    }
}
