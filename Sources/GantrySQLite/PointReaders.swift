import Foundation
import GRDB
import Synchronization

/// Read-only connections that serve point reads synchronously on the calling thread.
///
/// Why: `requestGet` runs ~10×/s per polled request. Measured (release build, 2 busy cores, one cached statement
/// per read): GRDB's async `pool.read` costs ~15-20 µs of CPU per call, ~20-23 µs with 64 concurrent callers (a
/// continuation, a hop to a reader queue and one back to the cooperative pool, BEGIN/COMMIT compiled on every
/// call); its async `unsafeRead` (no BEGIN/COMMIT) gave `requestGet` a p50 of ~34 µs and ~39k reads/s with 64
/// callers. On one of these connections, `requestGet` takes ~6 µs (p50, 22 columns decoded) and ~130k reads/s
/// with 64 callers: `DispatchQueue.sync` runs the block on the calling thread, and much of what is left is SQLite
/// taking and dropping its WAL read lock (`fcntl`). A single SELECT runs in its own implicit transaction, so it
/// needs no BEGIN/COMMIT for a consistent snapshot.
///
/// Why not the pool's synchronous read: it waits on the pool's semaphore for a free reader, and the pool's async
/// reads hand their reader back only after their task resumes on the cooperative pool. Cooperative threads
/// blocked on that semaphore then wait for tasks that need a cooperative thread: a deadlock, which happened with
/// 64 clients on 2 cores. These connections are taken without ever waiting (a lock held for a pop or a push);
/// when all are busy the caller takes the async path instead. Blocking a cooperative thread for the read itself
/// is fine for an indexed point lookup of a few microseconds (WAL readers never wait for the writer); reads whose
/// cost grows with the data (queue position, logs, counts) stay async.
final class PointReaders: Sendable {
    private struct State {
        var free: [DatabaseQueue]
        var closed = false
    }

    private let state: Mutex<State>

    /// Opens `count` read-only connections to the (already migrated) database at `path`.
    init(path: String, count: Int) throws {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.label = "GantrySQLite.pointRead"
        configuration.busyMode = .timeout(5)
        let connections = try (0..<count).map { _ in try DatabaseQueue(path: path, configuration: configuration) }
        state = Mutex(State(free: connections))
    }

    /// Runs `body` on a free connection, on this thread, and returns its outcome; nil when every connection is
    /// in use (the caller then reads asynchronously). `body` should run one statement: it gets no transaction.
    func read<T>(_ body: (Database) throws -> T) -> Result<T, any Error>? {
        guard let connection = state.withLock({ $0.free.popLast() }) else { return nil }
        defer {
            let closed = state.withLock { state in
                if !state.closed { state.free.append(connection) }
                return state.closed
            }
            if closed { try? connection.close() }
        }
        return Result { try connection.unsafeRead(body) }
    }

    /// Closes every free connection (one in use closes when its read ends); later reads take the async path.
    func close() throws {
        let connections = state.withLock { state in
            state.closed = true
            defer { state.free = [] }
            return state.free
        }
        for connection in connections { try connection.close() }
    }
}
