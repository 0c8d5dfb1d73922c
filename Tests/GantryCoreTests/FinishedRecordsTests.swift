import Foundation
@testable import GantryCore
import Testing

@Suite("Finished records kept in memory")
struct FinishedRecordsTests {
    private func record(_ id: String, _ state: RequestState, finishedAt: Date?, body: Int = 10) -> RequestRecord {
        RequestRecord(id: id, tenant: "t", functionID: "f", input: Data("{}".utf8), state: state, createdAt: Date(timeIntervalSince1970: 0),
                      finishedAt: finishedAt, result: RequestResult(status: 200, body: Data(count: body)))
    }

    @Test func keepsOnlyTerminalRecords() {
        let clock = TestClock()
        let kept = FinishedRecords(retention: 3_600, now: { clock.now })
        kept.keep(record("q", .queued, finishedAt: nil))
        kept.keep(record("r", .running, finishedAt: nil))
        for state in [RequestState.succeeded, .failed, .cancelled, .expired] {
            kept.keep(record(state.rawValue, state, finishedAt: clock.now))
        }
        #expect(kept.record(id: "q") == nil && kept.record(id: "r") == nil)
        #expect(kept.record(id: "succeeded")?.state == .succeeded && kept.record(id: "expired")?.state == .expired)
        #expect(kept.count == 4)
    }

    @Test func entriesEndAfterTheirLifetimeOrWhenRetentionCouldPruneThem() {
        let clock = TestClock()
        let kept = FinishedRecords(lifetime: 30, retention: 100, now: { clock.now })
        kept.keep(record("fresh", .succeeded, finishedAt: clock.now))
        // Finished 90 s ago: retention may prune it 10 s from now, before the 30 s lifetime is over.
        kept.keep(record("old", .succeeded, finishedAt: clock.now.addingTimeInterval(-90)))
        // Already past retention: never kept.
        kept.keep(record("gone", .succeeded, finishedAt: clock.now.addingTimeInterval(-100)))
        #expect(kept.record(id: "gone") == nil)
        clock.advance(9)
        #expect(kept.record(id: "old") != nil && kept.record(id: "fresh") != nil)
        clock.advance(2)
        #expect(kept.record(id: "old") == nil && kept.record(id: "fresh") != nil)
        clock.advance(20)
        #expect(kept.record(id: "fresh") == nil)
        #expect(kept.count == 0)
    }

    @Test func boundedByCountAndBytesOldestFirst() {
        let clock = TestClock()
        let byCount = FinishedRecords(capacity: 3, retention: 3_600, now: { clock.now })
        for index in 0..<5 { byCount.keep(record("\(index)", .succeeded, finishedAt: clock.now)) }
        #expect(byCount.count == 3)
        #expect(byCount.record(id: "0") == nil && byCount.record(id: "1") == nil && byCount.record(id: "4") != nil)

        // Each record counts its bodies plus 512 bytes of fields.
        let byBytes = FinishedRecords(maxBytes: 3 * 1_514, maxRecordBytes: 2_000, retention: 3_600, now: { clock.now })
        for index in 0..<4 { byBytes.keep(record("\(index)", .succeeded, finishedAt: clock.now, body: 1_000)) }
        #expect(byBytes.count == 3 && byBytes.record(id: "0") == nil)
        byBytes.keep(record("huge", .succeeded, finishedAt: clock.now, body: 5_000))
        #expect(byBytes.record(id: "huge") == nil && byBytes.count == 3)
    }

    @Test func manyKeepsStayBounded() {
        let clock = TestClock()
        let kept = FinishedRecords(capacity: 100, retention: 3_600, now: { clock.now })
        for index in 0..<20_000 { kept.keep(record("\(index % 300)", .succeeded, finishedAt: clock.now)) }
        #expect(kept.count == 100)
        #expect(kept.record(id: "\(19_999 % 300)") != nil)
    }

    /// The queue answers a finished request from memory: the record the finish wrote is served even after the row
    /// is removed underneath (which only retention does, long after an entry ends).
    @Test func queueReadsAFinishedRequestFromMemory() async throws {
        let harness = Harness([registered(manifest("t/echo"), ProbeFunction(probe: Probe()))])
        try await harness.withDispatcher {
            let submitted = try await harness.submit("t/echo", "kept")
            let done = try await harness.waitFor(submitted.id, .succeeded)
            #expect(try await harness.queue.get(id: submitted.id, tenant: "t") == done)
            #expect(try await harness.store.requestPrune(finishedBefore: Date.distantFuture) == 1)
            #expect(try await harness.store.requestGet(id: submitted.id) == nil)
            #expect(try await harness.queue.get(id: submitted.id, tenant: "t") == done)
            #expect(try await harness.queue.get(id: submitted.id, tenant: "other") == nil)
        }
    }
}
