import Foundation

/// Runs CPU-heavy, synchronous work (decoding, resampling, the fill, the engine's iterations) on dedicated threads,
/// off Swift's cooperative pool.
///
/// The cooperative pool has one thread per core — two here. A 200 ms image stage run directly on it blocks half of
/// the host: HTTP handlers, status polls and the dispatcher's bookkeeping all wait behind it. Work submitted here
/// queues for one of `width` worker threads instead, and the awaiting task is suspended, not blocking, meanwhile.
public final class Compute: @unchecked Sendable {
    /// The process-wide pool, one worker per active core.
    public static let shared = Compute(width: ProcessInfo.processInfo.activeProcessorCount)

    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []

    /// Starts `width` worker threads that live as long as the process.
    public init(width: Int) {
        for index in 0..<max(1, width) {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "gantry-compute-\(index)"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    private func work() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }

    private func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Runs `body` on a compute thread and returns its result. Cancellation is checked before the work starts;
    /// work that has started runs to completion (keep each call short enough — one stage or one iteration).
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try Task.checkCancellation()
        return try await withCheckedThrowingContinuation { continuation in
            submit { continuation.resume(with: Result { try body() }) }
        }
    }

    /// `run` for work that cannot throw.
    public func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            submit { continuation.resume(returning: body()) }
        }
    }
}

/// Async code can run on the compute threads too: `withTaskExecutorPreference(Compute.shared) { … }` keeps a
/// long computation that checks cancellation and reports progress between steps (the engine) off the cooperative
/// pool as a whole.
extension Compute: TaskExecutor {
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        submit { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
