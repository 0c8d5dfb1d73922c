import Foundation
@testable import GantryCore
@testable import GantryPostgres
import Synchronization
import Testing

/// The batching of concurrent reads on the PostgreSQL store, over a table in memory (the store's own use of it is
/// covered by the conformance suite, which reads every request through it).
@Suite("Read coalescing")
struct ReadCoalescerTests {
    /// A table the fetch reads, with a gate that holds the first batch and a log of every batch's ids.
    final class Table: Sendable {
        struct State {
            var rows: [String: RequestRecord] = [:]
            var batches: [[String]] = []
            var held = true
            var failNext = false
        }

        let state = Mutex(State())

        func record(_ id: String, _ name: String) -> RequestRecord {
            RequestRecord(id: id, tenant: name, functionID: "f", input: Data(), createdAt: Date(timeIntervalSince1970: 0))
        }

        /// Reads the rows when the batch starts (as a statement sees the table when it runs), then answers.
        func fetch(_ ids: [String]) async throws -> [RequestRecord] {
            let (first, snapshot, fail) = state.withLock { state in
                state.batches.append(ids.sorted())
                defer { state.failNext = false }
                return (state.batches.count == 1, ids.compactMap { state.rows[$0] }, state.failNext)
            }
            // The first batch waits until the test lets it go, so the reads after it pile up.
            while first && state.withLock({ $0.held }) { try await Task.sleep(for: .milliseconds(5)) }
            if fail { throw StoreError.unavailable("down") }
            return snapshot
        }
    }

    @Test func concurrentReadsShareStatementsAndEachGetsItsOwnRecord() async throws {
        let table = Table()
        table.state.withLock { state in
            for index in 0..<100 { state.rows["r\(index)"] = table.record("r\(index)", "t\(index)") }
        }
        let reads = ReadCoalescer(maxInFlight: 1, maxBatch: 64) { try await table.fetch($0) }
        let results = try await withThrowingTaskGroup(of: (String, RequestRecord?).self) { group in
            group.addTask { ("r0", try await reads.get("r0")) }
            while table.state.withLock({ $0.batches.isEmpty }) { try await Task.sleep(for: .milliseconds(5)) }
            // 150 reads of 101 ids (some twice, one missing) while the first batch is held.
            for index in 1..<150 {
                let id = index == 149 ? "missing" : "r\(index % 100)"
                group.addTask { (id, try await reads.get(id)) }
            }
            try await Task.sleep(for: .milliseconds(100))
            table.state.withLock { $0.held = false }
            return try await group.reduce(into: [(String, RequestRecord?)]()) { $0.append($1) }
        }
        #expect(results.count == 150)
        for (id, record) in results {
            #expect(record?.id == (id == "missing" ? nil : id))
            if let record { #expect(record.tenant == "t\(id.dropFirst())") }
        }
        let batches = table.state.withLock { $0.batches }
        // The lone first read went alone; the 101 distinct ids behind it went in batches of at most 64: two, or a
        // few more when some reads had not been asked yet when the first batch came back.
        #expect(batches.first == ["r0"])
        #expect(batches.count >= 3 && batches.count < 10, "\(batches.map(\.count))")
        #expect(batches.dropFirst().allSatisfy { $0.count <= 64 })
        #expect(Set(batches.dropFirst().joined()).count == 101)
    }

    /// A read asked while a batch is at the database is answered by a later batch: it sees what was written before
    /// it was asked, never an older answer.
    @Test func aReadNeverJoinsABatchThatStartedBeforeIt() async throws {
        let table = Table()
        table.state.withLock { $0.rows["r"] = table.record("r", "before") }
        let reads = ReadCoalescer(maxInFlight: 1) { try await table.fetch($0) }
        async let early = reads.get("r")
        while table.state.withLock({ $0.batches.isEmpty }) { try await Task.sleep(for: .milliseconds(5)) }
        table.state.withLock { $0.rows["r"] = table.record("r", "after") }
        async let late = reads.get("r")
        try await Task.sleep(for: .milliseconds(50))
        table.state.withLock { $0.held = false }
        #expect(try await early?.tenant == "before")
        #expect(try await late?.tenant == "after")
    }

    @Test func aFailedBatchFailsItsReadsOnly() async throws {
        let table = Table()
        table.state.withLock { state in
            state.rows["a"] = table.record("a", "x")
            state.held = false
            state.failNext = true
        }
        let reads = ReadCoalescer { try await table.fetch($0) }
        await #expect(throws: StoreError.self) { _ = try await reads.get("a") }
        #expect(try await reads.get("a")?.tenant == "x")
    }
}

/// The batching of concurrent terminal writes on the PostgreSQL store, over a writer in memory.
@Suite("Finish coalescing")
struct FinishCoalescerTests {
    final class Log: Sendable {
        let batches = Mutex<[[String]]>([])
        let held = Atomic<Bool>(true)
    }

    static func update(_ id: String, attempt: Int = 1) -> TerminalUpdate {
        TerminalUpdate(RequestSucceededParams(fence: LeaseFence(requestID: id, attempt: attempt, owner: "w"),
                                              result: RequestResult(status: 200, body: Data()), now: Date(timeIntervalSince1970: 1)))
    }

    /// Finishes pile up behind a held batch and go together, but two finishes of one request never share a batch.
    @Test func finishesShareStatementsButNeverWithTheirOwnRequest() async throws {
        let log = Log()
        let finishes = FinishCoalescer(maxInFlight: 1, maxBatch: 32) { updates in
            let first = log.batches.withLock { batches in
                batches.append(updates.map(\.fence.requestID))
                return batches.count == 1
            }
            while first && log.held.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(5)) }
            return updates.map { RequestRecord(id: $0.fence.requestID, tenant: "t", functionID: "f", input: Data(), state: .succeeded,
                                               createdAt: Date(timeIntervalSince1970: 0)) }
        }
        try await withThrowingTaskGroup(of: RequestRecord?.self) { group in
            group.addTask { try await finishes.finish(Self.update("lone")) }
            while log.batches.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(5)) }
            for index in 0..<40 {
                group.addTask { try await finishes.finish(Self.update("r\(index % 20)")) }
            }
            try await Task.sleep(for: .milliseconds(100))
            log.held.store(false, ordering: .relaxed)
            var answered = 0
            for try await record in group {
                #expect(record != nil)
                answered += 1
            }
            #expect(answered == 41)
        }
        let batches = log.batches.withLock { $0 }
        #expect(batches.first == ["lone"])
        #expect(batches.allSatisfy { Set($0).count == $0.count && $0.count <= 32 }, "\(batches)")
        #expect(batches.count >= 3 && batches.count < 12, "\(batches.map(\.count))")
        #expect(batches.dropFirst().joined().count == 40)
    }

    @Test func aFailedBatchFailsItsFinishesOnly() async throws {
        let calls = Atomic<Int>(0)
        let finishes = FinishCoalescer { updates in
            if calls.add(1, ordering: .relaxed).newValue == 1 { throw StoreError.unavailable("down") }
            return []
        }
        await #expect(throws: StoreError.self) { _ = try await finishes.finish(Self.update("a")) }
        #expect(try await finishes.finish(Self.update("a")) == nil)
    }
}
