import Foundation
import GantryCore
import Synchronization

/// Turns concurrent calls about single requests into few statements. A call that arrives while `maxInFlight`
/// batches are at the database waits for the next batch, which sends every waiting call at once; a lone call goes
/// at once, so an idle store adds no latency. A call always joins a batch that starts after it was made, so it sees
/// every write committed before it began.
///
/// Two calls about one request (the same key) either share a slot (`.share`: reads, answered by one row) or never
/// share a batch (`.separate`: writes, where the later one waits for the next batch and its own fence decides
/// there, as one call at a time would). Each call is answered with the row whose id is its key, or nil.
///
/// `ReadCoalescer` (reads by id) and `FinishCoalescer` (terminal writes) are its two uses.
final class RequestBatcher<Item: Sendable>: Sendable {
    typealias Waiter = CheckedContinuation<RequestRecord?, any Error>

    /// What two calls about one request do within a batch.
    enum SameKey: Sendable { case share, separate }

    private struct Pending {
        var key: String
        var item: Item
        var waiter: Waiter
    }

    private struct State {
        var pending: [Pending] = []
        var inFlight = 0
    }

    private let state = Mutex(State())
    private let maxInFlight: Int
    private let maxBatch: Int
    private let sameKey: SameKey
    private let key: @Sendable (Item) -> String
    private let send: @Sendable ([Item]) async throws -> [RequestRecord]

    /// - Parameters:
    ///   - maxInFlight: batches at the database at once.
    ///   - maxBatch: distinct requests in one statement.
    ///   - send: runs one statement for the items (one per request) and returns the rows it read or changed.
    init(maxInFlight: Int, maxBatch: Int, sameKey: SameKey, key: @escaping @Sendable (Item) -> String,
         send: @escaping @Sendable ([Item]) async throws -> [RequestRecord]) {
        self.maxInFlight = maxInFlight
        self.maxBatch = maxBatch
        self.sameKey = sameKey
        self.key = key
        self.send = send
    }

    /// The row of the item's request from the batch that carried it, or nil.
    func call(_ item: Item) async throws -> RequestRecord? {
        let key = key(item)
        return try await withCheckedThrowingContinuation { (waiter: Waiter) in
            let startsBatch = state.withLock { state in
                state.pending.append(Pending(key: key, item: item, waiter: waiter))
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
            let batch: [Pending]? = state.withLock { state in
                guard !state.pending.isEmpty else {
                    state.inFlight -= 1
                    return nil
                }
                return takeBatch(&state.pending)
            }
            guard let batch else { return }
            do {
                var sent = Set<String>()
                let rows = try await send(batch.filter { sent.insert($0.key).inserted }.map(\.item))
                var found: [String: RequestRecord] = [:]
                for row in rows { found[row.id] = row }
                for call in batch { call.waiter.resume(returning: found[call.key]) }
            } catch {
                for call in batch { call.waiter.resume(throwing: error) }
            }
        }
    }

    /// The oldest calls, up to `maxBatch` requests; the rest stay in order.
    private func takeBatch(_ pending: inout [Pending]) -> [Pending] {
        var taken: [Pending] = [], kept: [Pending] = [], keys = Set<String>()
        for call in pending {
            if keys.contains(call.key) {
                if sameKey == .share { taken.append(call) } else { kept.append(call) }
            } else if keys.count < maxBatch {
                keys.insert(call.key)
                taken.append(call)
            } else {
                kept.append(call)
            }
        }
        pending = kept
        return taken
    }
}

/// Reads of single requests by id, coalesced (`WHERE id = ANY($1)`).
typealias ReadCoalescer = RequestBatcher<String>

extension RequestBatcher where Item == String {
    /// - Parameter fetch: reads the requests with these ids (those that exist).
    convenience init(maxInFlight: Int = 2, maxBatch: Int = 256, fetch: @escaping @Sendable ([String]) async throws -> [RequestRecord]) {
        self.init(maxInFlight: maxInFlight, maxBatch: maxBatch, sameKey: .share, key: { $0 }, send: fetch)
    }

    /// The request with this id, or nil.
    func get(_ id: String) async throws -> RequestRecord? { try await call(id) }
}

/// Terminal writes, coalesced into one `UPDATE … FROM unnest(…)`, each row under its own fence.
typealias FinishCoalescer = RequestBatcher<TerminalUpdate>

extension RequestBatcher where Item == TerminalUpdate {
    /// - Parameter write: applies the updates (no two of one request) and returns the rows it changed.
    convenience init(maxInFlight: Int = 2, maxBatch: Int = 128, write: @escaping @Sendable ([TerminalUpdate]) async throws -> [RequestRecord]) {
        self.init(maxInFlight: maxInFlight, maxBatch: maxBatch, sameKey: .separate, key: { $0.fence.requestID }, send: write)
    }

    /// The stored row when the fence held, nil otherwise.
    func finish(_ update: TerminalUpdate) async throws -> RequestRecord? { try await call(update) }
}
