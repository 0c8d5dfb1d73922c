import Foundation
import GantryCore
import Testing

/// Expiry, retention, counts and logs.
@Suite struct MaintenanceTests {
    @Test(arguments: StoreKind.allCases)
    func expireOverdueMovesOnlyOverdueQueuedRequests(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "overdue-1", startDeadline: at(5))
            try await insert(store, "no-deadline")
            try await insert(store, "later", startDeadline: at(50))
            try await insert(store, "overdue-2", startDeadline: at(8))
            try await insert(store, "running", function: "resize", startDeadline: at(5))
            _ = try await claim(store, function: "resize", now: at(1))

            #expect(try await store.requestExpireOverdue(now: at(10)) == ["overdue-1", "overdue-2"])
            let expired = try #require(try await store.requestGet(id: "overdue-1"))
            #expect(expired.state == .expired && same(expired.finishedAt, at(10)))
            #expect(try await store.requestGet(id: "no-deadline")?.state == .queued)
            #expect(try await store.requestGet(id: "later")?.state == .queued)
            #expect(try await store.requestGet(id: "running")?.state == .running)
            #expect(try await store.requestQueuePosition(id: "later") == 1)
            #expect(try await store.requestExpireOverdue(now: at(10)).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func pruneRemovesOldTerminalRequestsAndTheirLogs(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            for id in ["old-done", "new-done", "old-cancelled", "queued", "running"] { try await insert(store, id) }
            #expect(try await store.requestCancel(id: "old-cancelled", now: at(3)) == .cancelled)
            #expect(try await drain(store) == ["old-done", "new-done", "queued", "running"])
            #expect(try await succeed(store, "old-done", attempt: 1, now: at(5)))
            #expect(try await succeed(store, "new-done", attempt: 1, now: at(20)))
            #expect(try await store.requestRelease(RequestReleaseParams(fence: fence("queued", attempt: 1))))
            let line = [LogEntry(message: "hello", timestamp: at(4))]
            for id in ["old-done", "new-done", "queued", "running"] {
                try await store.logAppend(requestID: id, entries: line)
            }

            #expect(try await store.requestPrune(finishedBefore: at(10)) == 2)
            #expect(try await store.requestGet(id: "old-done") == nil)
            #expect(try await store.requestGet(id: "old-cancelled") == nil)
            #expect(try await store.logList(requestID: "old-done", limit: 10).isEmpty)
            for id in ["new-done", "queued", "running"] {
                #expect(try await store.requestGet(id: id) != nil)
                #expect(try await store.logList(requestID: id, limit: 10) == line)
            }
            // Logs of a pruned request that arrive late are dropped, not kept forever.
            try await store.logAppend(requestID: "old-done", entries: line)
            #expect(try await store.logList(requestID: "old-done", limit: 10).isEmpty)
            #expect(try await store.requestPrune(finishedBefore: at(10)) == 0)
            #expect(try await store.requestPrune(finishedBefore: at(1000)) == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func countsPerFunctionAndState(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            #expect(try await store.requestCounts().isEmpty)
            for id in ["a", "b", "c", "d"] { try await insert(store, id) }
            try await insert(store, "x", function: "resize")
            _ = try await claim(store)
            _ = try await claim(store)
            #expect(try await succeed(store, "a", attempt: 1))
            _ = try await store.requestCancel(id: "d", now: at(2))
            #expect(try await store.requestCounts() == [
                "echo": [.succeeded: 1, .running: 1, .queued: 1, .cancelled: 1],
                "resize": [.queued: 1],
            ])
            #expect(try await store.requestPrune(finishedBefore: at(100)) == 2)
            #expect(try await store.requestCounts() == ["echo": [.running: 1, .queued: 1], "resize": [.queued: 1]])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func logsKeepAppendOrderAndHonourTheLimit(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await insert(store, "r1")
            try await insert(store, "r2")
            let first = (0..<3).map { LogEntry(message: "line \($0)", level: .stdout, timestamp: at(Double($0))) }
            // Out-of-order timestamps: the order is the append order, not the clock's.
            let second = [
                LogEntry(message: "warned", level: .warn, source: "GANTRY", timestamp: at(1)),
                LogEntry(message: "ünïcode ✓\nnewline", level: .error, timestamp: at(0.5)),
            ]
            try await store.logAppend(requestID: "r1", entries: first)
            try await store.logAppend(requestID: "r2", entries: [LogEntry(message: "other", timestamp: at(0))])
            try await store.logAppend(requestID: "r1", entries: second)
            try await store.logAppend(requestID: "r1", entries: [])

            let all = try await store.logList(requestID: "r1", limit: 100)
            #expect(all.map(\.message) == (first + second).map(\.message))
            #expect(all.map(\.level) == (first + second).map(\.level))
            #expect(all.map(\.source) == ["USER", "USER", "USER", "GANTRY", "USER"])
            #expect(zip(all, first + second).allSatisfy { same($0.timestamp, $1.timestamp) })
            #expect(try await store.logList(requestID: "r1", limit: 2).map(\.message) == ["line 0", "line 1"])
            #expect(try await store.logList(requestID: "r1", limit: 0).isEmpty)
            #expect(try await store.logList(requestID: "r2", limit: 10).map(\.message) == ["other"])
            #expect(try await store.logList(requestID: "missing", limit: 10).isEmpty)
        }
    }
}
