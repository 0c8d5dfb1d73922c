import Foundation
@testable import GantryCore
@testable import GantrySQLite
import GRDB
import Testing

/// Concurrent writers: every write lands exactly once, and (SQLite) writes that share a group-committed
/// transaction succeed or fail on their own.
@Suite struct GroupCommitTests {
    /// 500 inserts from 64 tasks, plus every task racing for one shared id: each unique id lands once, the shared
    /// one exactly once, and the losers see `duplicate`.
    @Test(arguments: StoreKind.allCases)
    func concurrentInsertsLandExactlyOnce(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let tasks = 64, total = 500
            let sharedWins = try await withThrowingTaskGroup(of: Int.self) { group in
                for task in 0..<tasks {
                    group.addTask {
                        for index in stride(from: task, to: total, by: tasks) { try await insert(store, "r\(index)") }
                        do {
                            try await insert(store, "shared", function: "other")
                            return 1
                        } catch let error as StoreError {
                            #expect(error == .duplicate("shared"))
                            return 0
                        }
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(sharedWins == 1)
            #expect(try await store.requestCounts() == ["echo": [.queued: total], "other": [.queued: 1]])
            for index in 0..<total {
                #expect(try await store.requestGet(id: "r\(index)")?.id == "r\(index)")
            }
            let claimed = try await drain(store)
            #expect(claimed.count == total && Set(claimed).count == total)
        }
    }

    /// Concurrent claims and finishes: no request is claimed twice and every finish lands.
    @Test(arguments: StoreKind.allCases)
    func concurrentClaimsAndFinishesNeverOverlap(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            for index in 0..<200 { try await insert(store, "r\(index)") }
            let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        var ids: [String] = []
                        while let record = try await claim(store, owner: "w\(worker)") {
                            #expect(try await succeed(store, record.id, attempt: record.attempt, owner: "w\(worker)"))
                            ids.append(record.id)
                        }
                        return ids
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(claimed.count == 200 && Set(claimed).count == 200)
            #expect(try await store.requestCounts() == ["echo": [.succeeded: 200]])
        }
    }

    /// Writes held back behind a busy writer all go in one transaction; the ones that fail (a duplicate id, a
    /// closure that wrote and then threw) get their own error and leave nothing behind, the others commit.
    @Test func failingWriteInABatchAffectsOnlyItself() async throws {
        try await withTemporaryDirectory { directory in
            let store = try SQLiteJobStore(path: directory.appendingPathComponent("jobs.sqlite").path)
            try await insert(store, "dup")

            let gate = DispatchSemaphore(value: 0)
            store.pool.asyncWriteWithoutTransaction { _ in gate.wait() }  // holds the writer queue
            let before = store.writes.transactionCount

            struct Boom: Error {}
            async let good = withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<20 { group.addTask { try await insert(store, "ok-\(index)") } }
                try await group.waitForAll()
            }
            let duplicate = Task { try await insert(store, "dup", function: "other") }
            let partial = Task { try await store.write { db -> Void in
                try db.execute(sql: """
                    INSERT INTO requests (id, tenant, function_id, input, state, priority, attempt, max_attempts,
                        created_at)
                    VALUES ('partial', 't', 'echo', x'7b7d', 'queued', 0, 0, 3, 0)
                    """)
                throw Boom()
            } }
            async let claimed = claim(store)
            while store.writes.pendingCount < 23 { try await Task.sleep(for: .milliseconds(1)) }
            gate.signal()

            try await good
            await #expect(throws: StoreError.duplicate("dup")) { _ = try await duplicate.value }
            await #expect(throws: Boom.self) { try await partial.value }
            // The claim ran in the same transaction as the inserts; it saw whatever was committed or written
            // before it in the batch, and took the oldest queued request.
            #expect(try await claimed?.id == "dup")
            #expect(store.writes.transactionCount == before + 1)

            #expect(try await store.requestGet(id: "partial") == nil)
            #expect(try await store.requestGet(id: "dup")?.functionID == "echo")
            for index in 0..<20 { #expect(try await store.requestGet(id: "ok-\(index)")?.state == .queued) }
            #expect(try await store.requestCounts() == ["echo": [.queued: 20, .running: 1]])
            try store.close()
        }
    }

    /// A lone write is drained at once, in a transaction of its own, with no savepoint: a failure still rolls back
    /// everything it wrote.
    @Test func loneFailingWriteRollsBack() async throws {
        try await withTemporaryDirectory { directory in
            let store = try SQLiteJobStore(path: directory.appendingPathComponent("jobs.sqlite").path)
            struct Boom: Error {}
            await #expect(throws: Boom.self) {
                try await store.write { db -> Void in
                    try db.execute(sql: """
                        INSERT INTO requests (id, tenant, function_id, input, state, priority, attempt, max_attempts,
                            created_at)
                        VALUES ('partial', 't', 'echo', x'7b7d', 'queued', 0, 0, 3, 0)
                        """)
                    throw Boom()
                }
            }
            #expect(try await store.requestGet(id: "partial") == nil)
            try await insert(store, "r1")
            #expect(try await store.requestGet(id: "r1") != nil)
            try store.close()
        }
    }

    /// Writes after `close()` fail instead of hanging.
    @Test func writesAfterCloseThrow() async throws {
        try await withTemporaryDirectory { directory in
            let store = try SQLiteJobStore(path: directory.appendingPathComponent("jobs.sqlite").path)
            try await insert(store, "r1")
            try store.close()
            await #expect(throws: (any Error).self) { try await insert(store, "r2") }
            await #expect(throws: (any Error).self) { try await store.requestGet(id: "r1") }
        }
    }
}
