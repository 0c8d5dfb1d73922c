import Foundation
import GantryCore
import Synchronization

/// Turns concurrent terminal writes into few statements, as `ReadCoalescer` does for reads: a finish that arrives
/// while `maxInFlight` batches are at the database waits for the next batch, which writes every waiting finish in
/// one `UPDATE … FROM unnest(…)`. Each row keeps its own fence (id, attempt, state, lease owner), so a batch changes
/// exactly the rows a finish at a time would.
///
/// Two finishes of the same request never share a batch: the later one waits for a later batch, where the fence
/// decides between them as it would one at a time (the first wins; the second changes nothing).
final class FinishCoalescer: Sendable {
    typealias Waiter = CheckedContinuation<RequestRecord?, any Error>

    private struct Pending {
        var update: TerminalUpdate
        var waiter: Waiter
    }

    private struct State {
        var pending: [Pending] = []
        var inFlight = 0
    }

    private let state = Mutex(State())
    private let maxInFlight: Int
    private let maxBatch: Int
    private let write: @Sendable ([TerminalUpdate]) async throws -> [RequestRecord]

    /// - Parameter write: applies the updates (no two of one request) and returns the rows it changed.
    init(maxInFlight: Int = 2, maxBatch: Int = 128, write: @escaping @Sendable ([TerminalUpdate]) async throws -> [RequestRecord]) {
        self.maxInFlight = maxInFlight
        self.maxBatch = maxBatch
        self.write = write
    }

    /// The stored row when the fence held, nil otherwise.
    func finish(_ update: TerminalUpdate) async throws -> RequestRecord? {
        try await withCheckedThrowingContinuation { (waiter: Waiter) in
            let startsBatch = state.withLock { state in
                state.pending.append(Pending(update: update, waiter: waiter))
                guard state.inFlight < maxInFlight else { return false }
                state.inFlight += 1
                return true
            }
            if startsBatch { Task { await self.drain() } }
        }
    }

    private func drain() async {
        while true {
            let batch: [Pending]? = state.withLock { state in
                guard !state.pending.isEmpty else {
                    state.inFlight -= 1
                    return nil
                }
                var taken: [Pending] = [], kept: [Pending] = [], ids = Set<String>()
                for item in state.pending {
                    if taken.count < maxBatch, ids.insert(item.update.fence.requestID).inserted {
                        taken.append(item)
                    } else {
                        kept.append(item)
                    }
                }
                state.pending = kept
                return taken
            }
            guard let batch else { return }
            do {
                let rows = try await write(batch.map(\.update))
                var stored: [String: RequestRecord] = [:]
                for row in rows { stored[row.id] = row }
                for item in batch { item.waiter.resume(returning: stored[item.update.fence.requestID]) }
            } catch {
                for item in batch { item.waiter.resume(throwing: error) }
            }
        }
    }
}
