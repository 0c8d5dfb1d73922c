import Foundation

/// Wakes waiters when something keyed by a string changes: a request (its state, logs or progress) or a
/// function's queue (new work).
///
/// Waiters subscribe *before* they read the state they wait on, so a change published between the read and the
/// wait is never missed: the subscription is already marked fired and `wait` returns at once.
public final class ChangeNotifier: @unchecked Sendable {
    private let lock = NSLock()
    private var subscriptions: [String: [ObjectIdentifier: Subscription]] = [:]

    public init() {}

    /// Registers interest in the next change of `key`.
    public func subscribe(_ key: String) -> Subscription {
        subscribe(anyOf: [key])
    }

    /// Registers interest in the next change of any of `keys` (one wait for several queues or requests).
    public func subscribe(anyOf keys: [String]) -> Subscription {
        let subscription = Subscription(keys: keys, notifier: self)
        lock.withLock {
            for key in keys { subscriptions[key, default: [:]][ObjectIdentifier(subscription)] = subscription }
        }
        return subscription
    }

    /// Signals a change of `key` to every current subscriber.
    public func publish(_ key: String) {
        let fired = lock.withLock { subscriptions.removeValue(forKey: key) }
        for subscription in fired?.values ?? [:].values {
            subscription.publishFired()
        }
    }

    /// Signals every current subscriber, whatever its keys: for changes that may have been missed (a cluster's
    /// change feed reconnecting), each waiter re-reads what it waits on.
    public func publishAll() {
        let fired = lock.withLock {
            defer { subscriptions.removeAll() }
            return subscriptions.values.flatMap(\.values)
        }
        for subscription in fired { subscription.publishFired() }
    }

    fileprivate func remove(_ subscription: Subscription) {
        lock.withLock {
            for key in subscription.keys {
                subscriptions[key]?.removeValue(forKey: ObjectIdentifier(subscription))
                if subscriptions[key]?.isEmpty == true { subscriptions.removeValue(forKey: key) }
            }
        }
    }

    /// The number of keys with waiters (for tests and leak checks).
    public var watchedKeyCount: Int { lock.withLock { subscriptions.count } }
}

/// A one-shot interest in the next change of a key.
public final class Subscription: @unchecked Sendable {
    private enum State {
        case pending
        case waiting(CheckedContinuation<Void, Never>)
        case fired
    }

    let keys: [String]
    private weak var notifier: ChangeNotifier?
    private let lock = NSLock()
    private var state = State.pending
    /// Set only by `publish`, not by timeouts or cancellation, which also end a wait.
    private var published = false

    fileprivate init(keys: [String], notifier: ChangeNotifier) {
        self.keys = keys
        self.notifier = notifier
    }

    /// Whether the key changed since `subscribe`.
    public var hasFired: Bool { lock.withLock { published } }

    fileprivate func publishFired() {
        lock.withLock { published = true }
        fire()
    }

    private func fire() {
        let continuation: CheckedContinuation<Void, Never>? = lock.withLock {
            defer { state = .fired }
            if case .waiting(let continuation) = state { return continuation }
            return nil
        }
        continuation?.resume()
    }

    /// Waits until the key changes, `timeout` passes or the task is cancelled; true when the key changed.
    @discardableResult
    public func wait(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let resumeNow: Bool = self.lock.withLock {
                            if case .pending = self.state, !Task.isCancelled, !self.published {
                                self.state = .waiting(continuation)
                                return false
                            }
                            return true
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    self.fire()
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        let fired = hasFired
        cancel()
        return fired
    }

    /// Drops the subscription without waiting.
    public func cancel() {
        notifier?.remove(self)
    }
}
