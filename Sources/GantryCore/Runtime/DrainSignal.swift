import Synchronization

/// Whether the host has begun shutting down, shared by the parts that answer waiting clients: the runner
/// gateway's long polls and synchronous runs that wait on the queue. Set once, as the first step of a shutdown,
/// before the HTTP server waits for in-flight requests; waiters are woken through the notifier's drain key.
public final class DrainSignal: Sendable {
    private let state = Mutex(false)
    private let notifier: ChangeNotifier

    init(notifier: ChangeNotifier) {
        self.notifier = notifier
    }

    /// Whether the shutdown has begun.
    public var isDraining: Bool { state.withLock { $0 } }

    /// Marks the shutdown begun and wakes every waiter on the drain key.
    public func begin() {
        state.withLock { $0 = true }
        notifier.publish(NotifierKeys.drain)
    }
}
