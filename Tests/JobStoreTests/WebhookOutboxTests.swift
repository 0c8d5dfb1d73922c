import Foundation
@testable import GantryCore
@testable import GantrySQLite
import Testing

/// The webhook outbox: rows are written with the request, become due in the terminal transition's own
/// transaction, and are claimed, recorded and released under guards.
@Suite struct WebhookOutboxTests {
    func insertHooked(_ store: any JobStore, _ id: String, url: String = "https://hooks.example.com/a", startDeadline: Date? = nil) async throws {
        _ = try await store.requestInsert(RequestInsertParams(
            id: id, tenant: "tenant-a", functionID: "echo", input: Data("{}".utf8), maxAttempts: 1, createdAt: epoch,
            startDeadline: startDeadline, webhookURL: url))
    }

    func claimDue(_ store: any JobStore, now: Date, owner: String = "sender", limit: Int = 10, excluding: Set<String> = []) async throws -> [WebhookDelivery] {
        try await store.webhookClaimDue(WebhookClaimParams(owner: owner, now: now, leaseDuration: 30, limit: limit, excludingHosts: excluding))
    }

    @Test(arguments: StoreKind.allCases)
    func waitingUntilTerminalThenDueAtFinish(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insertHooked(store, "a", url: "https://Hooks.Example.com:8443/x?y=1")
            try await insert(store, "plain")
            let waiting = try #require(try await store.webhookGet(requestID: "a"))
            #expect(waiting.state == .waiting && waiting.host == "hooks.example.com" && waiting.tenant == "tenant-a")
            #expect(waiting.format == .fal && waiting.url == "https://Hooks.Example.com:8443/x?y=1")
            #expect(try await store.webhookGet(requestID: "plain") == nil)
            #expect(try await claimDue(store, now: at(100)).isEmpty)
            let record = try #require(try await claim(store))
            #expect(try await claimDue(store, now: at(100)).isEmpty)
            #expect(try await succeed(store, record.id, attempt: record.attempt, now: at(5)))
            let pending = try #require(try await store.webhookGet(requestID: "a"))
            #expect(pending.state == .pending)
            #expect(abs(pending.nextAttemptAt!.timeIntervalSince(at(5))) < 0.001)
            #expect(try await claimDue(store, now: at(4)).isEmpty)
            #expect(try await claimDue(store, now: at(5)).map(\.requestID) == ["a"])
        }
    }

    /// Every way into a terminal state makes the delivery due: finish, cancel of a queued request, rescue with
    /// attempts exhausted, and expiry of the start deadline.
    @Test(arguments: StoreKind.allCases)
    func everyTerminalPathMakesTheDeliveryDue(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insertHooked(store, "cancelled")
            try await insertHooked(store, "expired", startDeadline: at(2))
            #expect(try await store.requestCancel(id: "cancelled", now: at(1)) == .cancelled)
            #expect(try await store.requestExpireOverdue(now: at(3)) == ["expired"])
            try await insertHooked(store, "rescued")
            let running = try #require(try await claim(store, now: at(4)))
            #expect(running.id == "rescued")
            let outcomes = try await store.requestRescue(RequestRescueParams(now: at(100)))
            #expect(outcomes.map(\.state) == [.failed])
            for id in ["cancelled", "expired", "rescued"] {
                #expect(try await store.webhookGet(requestID: id)?.state == .pending, "\(id)")
            }
            #expect(Set(try await claimDue(store, now: at(200)).map(\.requestID)) == ["cancelled", "expired", "rescued"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func claimsAreExclusiveUntilTheLeaseExpiresAndHostsCanBeExcluded(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insertHooked(store, "a", url: "https://slow.example/a")
            try await insertHooked(store, "b", url: "https://fast.example/b")
            for id in ["a", "b"] { #expect(try await store.requestCancel(id: id, now: at(1)) == .cancelled) }
            #expect(try await claimDue(store, now: at(2), excluding: ["slow.example"]).map(\.requestID) == ["b"])
            #expect(try await claimDue(store, now: at(3), owner: "other").map(\.requestID) == ["a"])
            #expect(try await claimDue(store, now: at(4), owner: "third").isEmpty)
            // b's claim (30 s) has expired at 40: it is due again for anyone (a's too, but its host is excluded).
            #expect(try await claimDue(store, now: at(40), owner: "third", excluding: ["slow.example"]).map(\.requestID) == ["b"])
            try await store.webhookRelease(WebhookReleaseParams(owner: "third"))
            #expect(try await store.webhookGet(requestID: "b")?.leaseOwner == nil)
            #expect(try await store.webhookGet(requestID: "a")?.leaseOwner == "other")
            try await store.webhookRelease(WebhookReleaseParams())
            #expect(try await claimDue(store, now: at(41), limit: 1).map(\.requestID) == ["a"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func attemptsAreGuardedAndCounted(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insertHooked(store, "a")
            _ = try await store.requestCancel(id: "a", now: at(1))
            _ = try await claimDue(store, now: at(1))
            func record(_ attempt: Int, _ next: WebhookAttemptParams.Next, owner: String = "sender", now: Date) async throws -> Bool {
                try await store.webhookRecordAttempt(WebhookAttemptParams(
                    requestID: "a", owner: owner, attempt: attempt, next: next, status: 500, error: "HTTP 500", now: now,
                    log: LogEntry(message: "attempt \(attempt) by \(owner)", level: .warn, source: "GANTRY", timestamp: now)))
            }
            #expect(try await record(1, .retry(at: at(10)), owner: "intruder", now: at(2)) == false)
            #expect(try await record(2, .retry(at: at(10)), now: at(2)) == false)
            #expect(try await record(1, .retry(at: at(10)), now: at(2)))
            // The claim is gone with the recorded attempt: the same attempt cannot be recorded twice.
            #expect(try await record(1, .retry(at: at(10)), now: at(2)) == false)
            var delivery = try #require(try await store.webhookGet(requestID: "a"))
            #expect(delivery.attempts == 1 && delivery.state == .pending && delivery.lastStatus == 500 && delivery.leaseOwner == nil)
            #expect(try await claimDue(store, now: at(9)).isEmpty)
            #expect(try await claimDue(store, now: at(10)).count == 1)
            #expect(try await record(2, .delivered, now: at(11)))
            delivery = try #require(try await store.webhookGet(requestID: "a"))
            #expect(delivery.state == .delivered && delivery.attempts == 2 && delivery.finishedAt != nil)
            #expect(try await claimDue(store, now: at(1_000)).isEmpty)
            #expect(try await store.webhookCounts() == [.delivered: 1])
            // Only the attempts that won their guard left a line, in the same write.
            #expect(try await store.logList(requestID: "a", limit: 10).map(\.message) == ["attempt 1 by sender", "attempt 2 by sender"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func pruneKeepsRequestsWhoseDeliveryIsPending(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insertHooked(store, "pending")
            try await insertHooked(store, "done")
            for id in ["pending", "done"] { _ = try await store.requestCancel(id: id, now: at(1)) }
            let claimed = try await claimDue(store, now: at(2)).filter { $0.requestID == "done" }
            #expect(claimed.count == 1)
            #expect(try await store.webhookRecordAttempt(WebhookAttemptParams(
                requestID: "done", owner: "sender", attempt: 1, next: .delivered, status: 200, error: nil, now: at(3))))
            _ = try await store.requestPrune(finishedBefore: at(1_000))
            #expect(try await store.requestGet(id: "pending") != nil)
            #expect(try await store.requestGet(id: "done") == nil)
            #expect(try await store.webhookGet(requestID: "done") == nil)
            #expect(try await store.webhookCounts() == [.pending: 1])
        }
    }
}
