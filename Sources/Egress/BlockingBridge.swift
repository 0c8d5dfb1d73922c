import Foundation
import Synchronization

/// Runs blocking C calls (getaddrinfo, curl_easy_perform) on their own OS threads.
///
/// Swift's cooperative pool has one thread per core; a few stalled DNS lookups or
/// slow downloads parked there would freeze every other task in the server. A
/// dedicated thread per call costs a little memory but never starves the pool.
enum BlockingBridge {
    /// Runs `work` on a new thread and resumes with whatever it returns.
    ///
    /// The caller must arrange for `work` to finish on cancellation itself (the curl
    /// transfers do so through their progress callback).
    static func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            let thread = Thread { continuation.resume(returning: work()) }
            thread.name = "gantry-egress"
            thread.start()
        }
    }

    /// Runs `work` on a new thread, but stops waiting for it at `deadline` (throwing
    /// `timeoutError`) or when the task is cancelled (throwing `.cancelled`).
    ///
    /// For calls that cannot be interrupted, such as getaddrinfo: the thread runs on
    /// to completion and its late result is dropped, while the caller moves on.
    static func run<T: Sendable>(
        until deadline: ContinuousClock.Instant,
        timeoutError: EgressError,
        _ work: @escaping @Sendable () -> Result<T, EgressError>
    ) async throws -> T {
        let gate = OneShotGate<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                gate.install(continuation)
                let thread = Thread { gate.resume(with: work().mapError { $0 as any Error }) }
                thread.name = "gantry-egress-dns"
                thread.start()
                let timer = Task {
                    try? await Task.sleep(until: deadline, clock: .continuous)
                    gate.resume(with: .failure(timeoutError))
                }
                gate.onFinish { timer.cancel() }
            }
        } onCancel: {
            gate.resume(with: .failure(EgressError(.cancelled, "the request was cancelled")))
        }
    }
}

/// Resumes one continuation exactly once, whichever racer (worker, timer,
/// cancellation) arrives first; later arrivals are ignored.
final class OneShotGate<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var early: Result<T, any Error>?
        var finished = false
        var cleanup: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    /// Hands over the continuation; if a racer already finished (cancellation can
    /// fire before the continuation exists), it is resumed at once.
    func install(_ continuation: CheckedContinuation<T, any Error>) {
        let early: Result<T, any Error>? = state.withLock { state in
            if let early = state.early { return early }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    /// Registers work to run once the gate has fired (or now, if it already has).
    func onFinish(_ cleanup: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state in
            if state.finished { return true }
            state.cleanup = cleanup
            return false
        }
        if runNow { cleanup() }
    }

    /// Delivers a result if none has been delivered yet.
    func resume(with result: Result<T, any Error>) {
        let (continuation, cleanup): (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?) = state.withLock { state in
            guard !state.finished else { return (nil, nil) }
            state.finished = true
            let cleanup = state.cleanup
            state.cleanup = nil
            guard let continuation = state.continuation else {
                state.early = result
                return (nil, cleanup)
            }
            state.continuation = nil
            return (continuation, cleanup)
        }
        continuation?.resume(with: result)
        cleanup?()
    }
}
