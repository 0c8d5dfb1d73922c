import Foundation

/// Bounds how many runs of one function execute at once in this process; queued workers and synchronous runs
/// share it, so a function's manifest `concurrency` holds whichever surface the work came from.
///
/// A lock rather than an actor: the uncontended path (a permit is free) takes no suspension at all, which matters
/// on the synchronous run path where every request acquires and releases once.
public final class ConcurrencyLimiter: @unchecked Sendable {
    private let lock = NSLock()
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var head = 0

    public init(permits: Int) {
        available = permits
    }

    /// Waits for a permit. Permits are granted in FIFO order.
    public func acquire() async {
        await acquire(whenQueued: nil)
    }

    /// `whenQueued` runs under the limiter's lock at the moment the caller takes its place (tests use it to record
    /// the exact waiting order).
    func acquire(whenQueued: (() -> Void)?) async {
        let granted: Bool = lock.withLock {
            whenQueued?()
            guard available > 0 else { return false }
            available -= 1
            return true
        }
        if granted { return }
        await withCheckedContinuation { continuation in
            let grantedNow: Bool = lock.withLock {
                // A release between the check above and here may have freed a permit.
                if available > 0 {
                    available -= 1
                    return true
                }
                waiters.append(continuation)
                return false
            }
            if grantedNow { continuation.resume() }
        }
    }

    /// Permits free right now (tests wait on it).
    var freePermits: Int { lock.withLock { available } }

    /// Takes up to `count` permits that are free right now, without waiting and without passing anyone in line
    /// (a free permit means nobody waits); returns how many it took.
    public func tryAcquire(upTo count: Int) -> Int {
        guard count > 0 else { return 0 }
        return lock.withLock {
            let taken = min(count, available)
            available -= taken
            return taken
        }
    }

    /// Returns `count` permits.
    public func release(_ count: Int) {
        for _ in 0..<max(count, 0) { release() }
    }

    /// Returns a permit, handing it straight to the oldest waiter if there is one.
    public func release() {
        let next: CheckedContinuation<Void, Never>? = lock.withLock {
            guard head < waiters.count else {
                available += 1
                return nil
            }
            let waiter = waiters[head]
            head += 1
            if head > 64 && head * 2 > waiters.count {
                waiters.removeFirst(head)
                head = 0
            }
            return waiter
        }
        next?.resume()
    }

    /// Runs `body` holding a permit.
    public func withPermit<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }
}
