import Foundation

/// Direct start: a submit that finds its function idle stores the request already claimed and the dispatcher runs
/// it at once, instead of queueing it, waking the claimer and claiming it in a second transaction.
///
/// The submit first takes a free concurrency permit (never one a synchronous run waits for), then asks the store
/// to claim at insert only if no queued request of the function would be claimed before it (`claimIfFirst`), so
/// the queue's order and the function's concurrency hold exactly as if the claimer had taken it. A submit that
/// finds no free permit, or work queued ahead, is queued as before and its permit returned.
///
/// The run is an unstructured task (the submit's own task returns to its client); the dispatcher counts these
/// runs from the slot's reservation, `run` does not return before they end, and the drain's grace period stops
/// them like any other run.
extension Dispatcher {
    /// A concurrency permit of an in-process function, held for a request about to be inserted.
    struct StartSlot: Sendable {
        let function: RegisteredFunction
        let limiter: ConcurrencyLimiter
    }

    /// A slot when the dispatcher is serving, not draining, the function runs in this process and a permit is free.
    /// A slot counts as a direct run from here, so a drain that begins while its request is being inserted still
    /// waits for it.
    func reserveStart(_ function: RegisteredFunction) -> StartSlot? {
        guard function.handler != nil, catalog.builtins.function(id: function.id) != nil,
              !catalog.isRunnerServed(function.id) else { return nil }
        let limiter = executor.limiter(function.id)
        let reserved = state.withLock { state -> Bool in
            guard state.serving && !state.draining, limiter.tryAcquire(upTo: 1) == 1 else { return false }
            state.directRuns += 1
            return true
        }
        return reserved ? StartSlot(function: function, limiter: limiter) : nil
    }

    /// Returns an unused slot.
    func release(_ slot: StartSlot) {
        slot.limiter.release()
        directRunEnded()
    }

    /// Runs a request the store claimed at its insert, holding `slot`'s permit until the run's outcome is recorded.
    func start(_ record: RequestRecord, in slot: StartSlot) {
        guard let fence = LeaseFence(record) else { return release(slot) }
        Task {
            // Nobody waits on this run where the submit came from: it runs on the shared pool, not on the
            // submitting connection's event loop (task-locals are copied into `Task {}`).
            await CallerExecutor.$preferred.withValue(nil) {
                await self.execute(record, fence: fence, function: slot.function)
            }
            self.release(slot)
        }
    }

    private func directRunEnded() {
        let idle = state.withLock { state in
            state.directRuns -= 1
            return state.directRuns == 0
        }
        if idle { notifier.publish(Self.directRunsKey) }
    }

    /// Waits until every direct run has ended.
    func directRunsEnded() async {
        while true {
            let subscription = notifier.subscribe(Self.directRunsKey)
            if state.withLock({ $0.directRuns == 0 }) {
                subscription.cancel()
                return
            }
            await subscription.wait(timeout: .seconds(1))
        }
    }

    static let directRunsKey = "dispatcher:direct-runs"
}
