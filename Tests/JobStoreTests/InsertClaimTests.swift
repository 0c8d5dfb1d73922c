import Foundation
import GantryCore
import Testing

/// Insertion, reading back, claim order and queue positions.
@Suite struct InsertClaimTests {
    /// The position an insert answers (from the per-lane counts) is the counted one, through claims, cancels,
    /// releases, expiry and both priorities.
    @Test(arguments: StoreKind.allCases)
    func insertAnswersTheQueuePosition(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            func submit(_ id: String, _ priority: RequestPriority = .normal, deadline: Date? = nil) async throws -> Int {
                let inserted = try await store.requestInsert(RequestInsertParams(
                    id: id, tenant: "t", functionID: "echo", input: Data("{}".utf8), priority: priority, maxAttempts: 3,
                    createdAt: epoch, startDeadline: deadline))
                #expect(try await store.requestQueuePosition(id: id) == inserted.queuePosition, "\(id)")
                return inserted.queuePosition
            }
            for index in 0..<5 { #expect(try await submit("n\(index)") == index) }
            #expect(try await submit("low0", .low) == 5)  // behind every normal request
            _ = try await insert(store, "other", function: "digest")  // another function's lane does not count
            let first = try #require(try await claim(store))
            _ = try await claim(store)
            #expect(try await submit("n5") == 3)  // n2, n3, n4
            #expect(try await store.requestCancel(id: "n3", now: at(1)) == .cancelled)
            #expect(try await submit("n6") == 3)  // n2, n4, n5
            #expect(try await store.requestRelease(RequestReleaseParams(fence: try #require(LeaseFence(first)), now: at(1))))
            #expect(try await submit("n7") == 5)  // n0 is back
            #expect(try await submit("low1", .low) == 7)  // six normal, one low
            _ = try await submit("late", deadline: at(2))
            #expect(try await store.requestExpireOverdue(now: at(3)) == ["late"])
            #expect(try await submit("n8") == 6)
        }
    }

    /// `claimIfFirst` stores a request claimed when nothing queued would be claimed before it (running requests
    /// do not count, a lower priority does not either) and queued otherwise; the claim is an ordinary attempt.
    @Test(arguments: StoreKind.allCases)
    func insertClaimsWhenNothingIsAhead(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            func submit(_ id: String, _ priority: RequestPriority = .normal) async throws -> InsertedRequest {
                var params = RequestInsertParams(
                    id: id, tenant: "t", functionID: "echo", input: Data("{}".utf8), priority: priority, maxAttempts: 3,
                    createdAt: at(5))
                params.claimIfFirst = DirectClaim(owner: "host-1", leaseDuration: 60)
                let inserted = try await store.requestInsert(params)
                #expect(normalized(try await store.requestGet(id: id)) == normalized(inserted.record), "\(id)")
                return inserted
            }
            let first = try await submit("a")
            #expect(first.record.state == .running && first.record.attempt == 1 && first.queuePosition == 0)
            #expect(first.record.leaseOwner == "host-1" && same(first.record.startedAt, at(5)) && same(first.record.leaseExpiresAt, at(65)))
            #expect(try await store.requestQueuePosition(id: "a") == nil)
            #expect(try await submit("b").record.state == .running)  // a runs; nothing is queued
            _ = try await insert(store, "queued")  // an ordinary submit waits in the queue
            let behind = try await submit("c")
            #expect(behind.record.state == .queued && behind.queuePosition == 1)
            #expect(try await claim(store)?.id == "queued")
            #expect(try await submit("low", .low).record.state == .queued)  // c is ahead of any low request
            #expect(try await claim(store)?.id == "c")
            #expect(try await claim(store)?.id == "low")
            _ = try await insert(store, "low-waiting", priority: .low)
            #expect(try await submit("d").record.state == .running)  // a normal request passes queued low ones
            #expect(try await succeed(store, "a", attempt: 1, owner: "host-1"))
            #expect(try await store.requestCounts()["echo"]?[.queued] == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func insertThenGetReturnsEveryField(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let params = RequestInsertParams(
                id: "r1", tenant: "tenant-a", functionID: "fooocus", input: Data(#"{"prompt":"a cat"}"#.utf8),
                priority: .low, maxAttempts: 5, createdAt: epoch, startDeadline: at(30),
                webhookURL: "https://example.test/hook?x=1")
            let inserted = try await store.requestInsert(params).record
            let expected = RequestRecord(
                id: "r1", tenant: "tenant-a", functionID: "fooocus", input: params.input, state: .queued,
                priority: .low, attempt: 0, maxAttempts: 5, createdAt: epoch, startDeadline: at(30),
                webhookURL: "https://example.test/hook?x=1")
            #expect(normalized(inserted) == normalized(expected))
            #expect(normalized(try await store.requestGet(id: "r1")) == normalized(expected))
            #expect(try await store.requestGet(id: "missing") == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func finishedRecordRoundTripsEveryField(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "r1", startDeadline: at(30))
            let claimed = try #require(try await claim(store, owner: "host-7", now: at(2)))
            try await store.requestSetProgress(id: "r1", attempt: 1, progress: 0.25)
            #expect(try await store.requestCancel(id: "r1", now: at(3)) == .cancelRequested)
            let running = try #require(try await store.requestGet(id: "r1"))
            #expect(running.progress == 0.25 && running.cancelRequested && running.leaseOwner == "host-7")
            #expect(same(running.leaseExpiresAt, at(62)) && same(claimed.startedAt, at(2)))

            let body = Data(#"{"images":[]}"#.utf8)
            #expect(try await store.requestSetFailed(RequestFailedParams(
                fence: fence("r1", attempt: 1, owner: "host-7"), result: RequestResult(status: 422, body: body),
                errorMessage: "bad image", errorType: "image_load_error", inferenceTime: 0.125, now: at(4))))
            var expected = running
            expected.state = .failed
            expected.finishedAt = at(4)
            expected.leaseOwner = nil
            expected.leaseExpiresAt = nil
            expected.result = RequestResult(status: 422, body: body)
            expected.errorMessage = "bad image"
            expected.errorType = "image_load_error"
            expected.inferenceTime = 0.125
            #expect(normalized(try await store.requestGet(id: "r1")) == normalized(expected))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func duplicateIDThrows(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "r1")
            await #expect(throws: StoreError.duplicate("r1")) { try await insert(store, "r1", function: "other") }
            #expect(try await store.requestGet(id: "r1")?.functionID == "echo")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func claimIsFIFOWithinPriorityAndNormalBeforeLow(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "low-1", priority: .low)
            try await insert(store, "n-1")
            try await insert(store, "low-2", priority: .low)
            try await insert(store, "n-2")
            try await insert(store, "n-3")
            #expect(try await drain(store) == ["n-1", "n-2", "n-3", "low-1", "low-2"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func claimTakesALease(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "r1")
            let claimed = try #require(try await claim(store, owner: "host-1", now: at(10)))
            #expect(claimed.id == "r1" && claimed.state == .running && claimed.attempt == 1)
            #expect(claimed.leaseOwner == "host-1")
            #expect(same(claimed.startedAt, at(10)) && same(claimed.leaseExpiresAt, at(70)))
            #expect(normalized(try await store.requestGet(id: "r1")) == normalized(claimed))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func claimSkipsOtherFunctionsAndOverdueRequests(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            #expect(try await claim(store) == nil)
            try await insert(store, "other", function: "resize")
            try await insert(store, "overdue", startDeadline: at(5))
            try await insert(store, "on-time", startDeadline: at(20))
            #expect(try await claim(store, now: at(10))?.id == "on-time")
            #expect(try await claim(store, now: at(10)) == nil)
            #expect(try await store.requestGet(id: "overdue")?.state == .queued)
            #expect(try await claim(store, function: "resize", now: at(10))?.id == "other")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func deadlineEqualToNowIsStillClaimable(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "r1", startDeadline: at(10))
            #expect(try await claim(store, now: at(10))?.id == "r1")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func queuePosition(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "a")
            try await insert(store, "low", priority: .low)
            try await insert(store, "elsewhere", function: "resize")
            try await insert(store, "b")
            try await insert(store, "c")
            #expect(try await store.requestQueuePosition(id: "a") == 0)
            #expect(try await store.requestQueuePosition(id: "b") == 1)
            #expect(try await store.requestQueuePosition(id: "c") == 2)
            #expect(try await store.requestQueuePosition(id: "low") == 3)
            #expect(try await store.requestQueuePosition(id: "elsewhere") == 0)
            #expect(try await store.requestQueuePosition(id: "missing") == nil)

            #expect(try await claim(store)?.id == "a")
            #expect(try await store.requestQueuePosition(id: "a") == nil)
            #expect(try await store.requestQueuePosition(id: "b") == 0)
            #expect(try await store.requestQueuePosition(id: "low") == 2)
            #expect(try await store.requestCancel(id: "b", now: at(2)) == .cancelled)
            #expect(try await store.requestQueuePosition(id: "b") == nil)
            #expect(try await store.requestQueuePosition(id: "c") == 0)
            #expect(try await store.requestQueuePosition(id: "low") == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func requeuedRequestKeepsItsPlace(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "first")
            try await insert(store, "second")
            #expect(try await claim(store)?.id == "first")
            #expect(try await store.requestRelease(RequestReleaseParams(fence: fence("first", attempt: 1))))
            #expect(try await store.requestQueuePosition(id: "first") == 0)
            #expect(try await store.requestQueuePosition(id: "second") == 1)
            #expect(try await drain(store) == ["first", "second"])
        }
    }
}
