import Foundation
import GantryCore
import Synchronization

/// Turns concurrent reads of single requests into few statements: a read that arrives while `maxInFlight` batches
/// are at the database waits for the next batch, which then asks for every id waiting (`WHERE id = ANY($1)`).
///
/// A lone read goes at once, so an idle store adds no latency; under load (status polls of many clients) one
/// round trip and one statement answer dozens of reads, which saves most of the per-statement cost on both sides.
/// A read always joins a batch that starts after it was asked, so it sees every write committed before it began.
final class ReadCoalescer: Sendable {
    typealias Waiter = CheckedContinuation<RequestRecord?, any Error>

    private struct State {
        var waiting: [String: [Waiter]] = [:]
        /// The waiting ids in the order they were first asked, so a batch takes the oldest first.
        var order: [String] = []
        var inFlight = 0
    }

    private let state = Mutex(State())
    private let maxInFlight: Int
    private let maxBatch: Int
    private let fetch: @Sendable ([String]) async throws -> [RequestRecord]

    /// - Parameters:
    ///   - maxInFlight: batches at the database at once.
    ///   - maxBatch: ids in one statement.
    ///   - fetch: reads the requests with these ids (those that exist).
    init(maxInFlight: Int = 2, maxBatch: Int = 256, fetch: @escaping @Sendable ([String]) async throws -> [RequestRecord]) {
        self.maxInFlight = maxInFlight
        self.maxBatch = maxBatch
        self.fetch = fetch
    }

    /// The request with this id, or nil.
    func get(_ id: String) async throws -> RequestRecord? {
        try await withCheckedThrowingContinuation { (continuation: Waiter) in
            let startsBatch = state.withLock { state in
                if state.waiting[id] == nil { state.order.append(id) }
                state.waiting[id, default: []].append(continuation)
                guard state.inFlight < maxInFlight else { return false }
                state.inFlight += 1
                return true
            }
            if startsBatch { Task { await self.drain() } }
        }
    }

    /// Sends batches until nobody waits.
    private func drain() async {
        while true {
            let batch: [String: [Waiter]]? = state.withLock { state in
                guard !state.waiting.isEmpty else {
                    state.inFlight -= 1
                    return nil
                }
                guard state.order.count > maxBatch else {
                    defer {
                        state.waiting = [:]
                        state.order = []
                    }
                    return state.waiting
                }
                var taken: [String: [Waiter]] = [:]
                for id in state.order.prefix(maxBatch) { taken[id] = state.waiting.removeValue(forKey: id) }
                state.order.removeFirst(maxBatch)
                return taken
            }
            guard let batch else { return }
            do {
                let records = try await fetch(Array(batch.keys))
                var found: [String: RequestRecord] = [:]
                for record in records { found[record.id] = record }
                for (id, waiters) in batch {
                    for waiter in waiters { waiter.resume(returning: found[id]) }
                }
            } catch {
                for waiter in batch.values.joined() { waiter.resume(throwing: error) }
            }
        }
    }
}
