import Foundation
import GRDB
import Synchronization

/// Group commit: every write of the store goes through here, and the writes that arrive while a transaction is
/// being written share the next one.
///
/// Callers enqueue a closure and suspend. A single drainer runs on GRDB's writer queue (a dedicated serial
/// `DispatchQueue`, never the Swift cooperative pool) through `asyncWriteWithoutTransaction`, so the batch needs no
/// extra hop: it takes every pending closure (at most `maxBatch`), runs them in ONE `BEGIN IMMEDIATE … COMMIT`,
/// each inside its own savepoint so a failing closure rolls back only its own changes and gets its own error, and
/// resumes every caller after the commit. If the commit fails, every closure that had succeeded gets that error
/// (its changes are gone). There is no timer: an idle batcher drains the first write at once, so a lone caller pays
/// no added latency; under load, whatever accumulated while the previous batch was writing goes in the next.
///
/// What a closure sees is what it would see in a transaction of its own, since closures run one after the other
/// on the one writer connection: a guarded UPDATE still reads the latest state, including the writes of the
/// closures before it in the same batch.
///
/// Cancellation: a write, once enqueued, runs (a cancelled caller still gets its result). A store write is small
/// and a half-known outcome (did the finish land?) is worse than a late one.
final class WriteBatcher: Sendable {
    private let pool: DatabasePool
    private let maxBatch: Int
    private let state = Mutex(State())
    private let transactions = Atomic<Int>(0)

    private struct State {
        var pending: [any BatchedWrite] = []
        /// A drain is queued on, or running on, the writer queue.
        var draining = false
    }

    init(pool: DatabasePool, maxBatch: Int = 256) {
        precondition(maxBatch > 0)
        self.pool = pool
        self.maxBatch = maxBatch
    }

    /// How many batch transactions have run (committed or not). For tests.
    var transactionCount: Int { transactions.load(ordering: .relaxed) }

    /// How many writes wait for a batch. For tests.
    var pendingCount: Int { state.withLock { $0.pending.count } }

    /// Runs `body` in the next batch's transaction and returns its result once that transaction has committed.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withUnsafeThrowingContinuation { continuation in
            enqueue(PendingWrite(body: body, continuation: continuation))
        }
    }

    private func enqueue(_ write: any BatchedWrite) {
        let startDrain = state.withLock { state in
            state.pending.append(write)
            if state.draining { return false }
            state.draining = true
            return true
        }
        if startDrain { scheduleDrain() }
    }

    private func scheduleDrain() {
        pool.asyncWriteWithoutTransaction { db in self.drain(db) }
    }

    /// One batch, on the writer queue. Re-queues itself (behind any other use of the writer) while writes wait.
    private func drain(_ db: Database) {
        let batch = state.withLock { state -> [any BatchedWrite] in
            if state.pending.count <= maxBatch {
                defer { state.pending = [] }
                return state.pending
            }
            defer { state.pending.removeFirst(maxBatch) }
            return Array(state.pending.prefix(maxBatch))
        }
        if !batch.isEmpty { run(batch, db) }
        let more = state.withLock { state in
            if state.pending.isEmpty { state.draining = false }
            return state.draining
        }
        if more { scheduleDrain() }
    }

    private func run(_ batch: [any BatchedWrite], _ db: Database) {
        transactions.add(1, ordering: .relaxed)
        var commitError: (any Error)?
        do {
            try db.inTransaction(.immediate) {
                if batch.count == 1 {
                    // Alone in its transaction, a closure needs no savepoint: a failure rolls the transaction back.
                    return batch[0].run(db, inSavepoint: false) ? .commit : .rollback
                }
                for write in batch { _ = write.run(db, inSavepoint: true) }
                return .commit
            }
        } catch {
            // BEGIN or COMMIT failed, or an error aborted the whole transaction (SQLITE_FULL, SQLITE_IOERR): GRDB
            // then refuses every later statement of the batch and the commit, so nothing of it was written.
            commitError = error
        }
        for write in batch { write.complete(commitError: commitError) }
    }
}

/// A closure waiting for its batch. Touched only by the drainer on the writer queue, one batch at a time.
private protocol BatchedWrite: Sendable {
    /// Runs the closure and keeps its outcome; returns whether it succeeded.
    func run(_ db: Database, inSavepoint: Bool) -> Bool
    /// Resumes the caller: `commitError` replaces a success whose transaction did not commit.
    func complete(commitError: (any Error)?)
}

private final class PendingWrite<T: Sendable>: BatchedWrite, @unchecked Sendable {
    private let body: @Sendable (Database) throws -> T
    private let continuation: UnsafeContinuation<T, any Error>
    private var outcome: Result<T, any Error>?

    init(body: @escaping @Sendable (Database) throws -> T, continuation: UnsafeContinuation<T, any Error>) {
        self.body = body
        self.continuation = continuation
    }

    func run(_ db: Database, inSavepoint: Bool) -> Bool {
        do {
            if inSavepoint {
                var value: T?
                try db.inSavepoint {
                    value = try body(db)
                    return .commit
                }
                outcome = .success(value!)
            } else {
                outcome = .success(try body(db))
            }
            return true
        } catch {
            outcome = .failure(error)
            return false
        }
    }

    func complete(commitError: (any Error)?) {
        switch (outcome, commitError) {
        case let (.success, error?), let (nil, error?):
            continuation.resume(throwing: error)
        case let (outcome?, _):
            continuation.resume(with: outcome)
        case (nil, nil):
            preconditionFailure("a batched write completed without running")
        }
    }
}
