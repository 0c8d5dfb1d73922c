import Foundation
@testable import GantryCore
import Testing

@Suite("ChangeNotifier and Subscription")
struct ChangeNotifierTests {
    /// A change published between subscribe and wait is not lost: wait returns at once, reporting the change.
    @Test func publishBeforeWait() async {
        let notifier = ChangeNotifier()
        let subscription = notifier.subscribe("k")
        notifier.publish("k")
        #expect(subscription.hasFired)
        let started = ContinuousClock.now
        #expect(await subscription.wait(timeout: .seconds(30)))
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(notifier.watchedKeyCount == 0)
    }

    /// A publish while waiting wakes the waiter; other keys do not.
    @Test func publishWakesWaiter() async {
        let notifier = ChangeNotifier()
        let subscription = notifier.subscribe("k")
        let other = notifier.subscribe("other")
        async let woke = subscription.wait(timeout: .seconds(30))
        notifier.publish("k")
        #expect(await woke)
        #expect(!other.hasFired)
        other.cancel()
        #expect(notifier.watchedKeyCount == 0)
    }

    /// Every subscriber of a key is woken by one publish.
    @Test func publishWakesAllSubscribers() async {
        let notifier = ChangeNotifier()
        let subscriptions = (0..<5).map { _ in notifier.subscribe("k") }
        notifier.publish("k")
        for subscription in subscriptions { #expect(await subscription.wait(timeout: .seconds(30))) }
        #expect(notifier.watchedKeyCount == 0)
    }

    /// Without a change, wait returns false after the timeout and leaves no subscription behind.
    @Test func timeout() async {
        let notifier = ChangeNotifier()
        let subscription = notifier.subscribe("k")
        #expect(notifier.watchedKeyCount == 1)
        let changed = await subscription.wait(timeout: .milliseconds(20))
        #expect(notifier.watchedKeyCount == 0)
        #expect(changed == false)
    }

    /// Cancelling the waiting task ends the wait promptly, well before its timeout, and leaks nothing.
    @Test func cancellationReturnsPromptly() async {
        let notifier = ChangeNotifier()
        let subscription = notifier.subscribe("k")
        let started = ContinuousClock.now
        let waiter = Task { await subscription.wait(timeout: .seconds(600)) }
        waiter.cancel()
        let changed = await waiter.value
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(notifier.watchedKeyCount == 0)
        #expect(changed == false)
    }

    /// A subscription dropped without waiting is removed; publishing afterwards does nothing.
    @Test func cancelRemovesKey() {
        let notifier = ChangeNotifier()
        let subscription = notifier.subscribe("k")
        subscription.cancel()
        #expect(notifier.watchedKeyCount == 0)
        notifier.publish("k")
        #expect(!subscription.hasFired)
    }

    /// Many concurrent subscribe/publish/wait cycles leave no keys behind.
    @Test func noLeaksUnderLoad() async {
        let notifier = ChangeNotifier()
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                let key = "k\(index % 10)"
                group.addTask {
                    let subscription = notifier.subscribe(key)
                    if index.isMultiple(of: 2) { notifier.publish(key) }
                    await subscription.wait(timeout: .milliseconds(10))
                }
            }
        }
        #expect(notifier.watchedKeyCount == 0)
    }
}

/// Records the order in which callers entered `acquire` and were granted a permit.
private final class Ledger: @unchecked Sendable {
    private let lock = NSLock()
    private var _entered: [Int] = []
    private var _granted: [Int] = []
    var entered: [Int] { lock.withLock { _entered } }
    var granted: [Int] { lock.withLock { _granted } }
    func enter(_ id: Int) { lock.withLock { _entered.append(id) } }
    func grant(_ id: Int) { lock.withLock { _granted.append(id) } }
}

extension ConcurrencyLimiter {
    /// Logs entry under the limiter's lock as the caller takes its place, so `entered` is exactly the waiting order.
    fileprivate func acquireLogged(_ id: Int, _ ledger: Ledger) async {
        await acquire(whenQueued: { ledger.enter(id) })
    }
}

@Suite("ConcurrencyLimiter")
struct ConcurrencyLimiterTests {
    /// Waiters get permits in the order they started waiting.
    @Test func fifo() async {
        let limiter = ConcurrencyLimiter(permits: 1)
        await limiter.acquire()
        let ledger = Ledger()
        await withTaskGroup(of: Void.self) { group in
            for id in 0..<8 {
                group.addTask {
                    await limiter.acquireLogged(id, ledger)
                    ledger.grant(id)
                }
            }
            #expect(await eventually { ledger.entered.count == 8 })
            #expect(ledger.granted.isEmpty)
            for released in 1...8 {
                limiter.release()
                #expect(await eventually { ledger.granted.count == released })
            }
        }
        #expect(ledger.granted == ledger.entered)
    }

    /// However many callers, at most `permits` bodies run at once, and every caller runs.
    @Test(arguments: [1, 3])
    func neverMoreThanPermits(permits: Int) async {
        let limiter = ConcurrencyLimiter(permits: permits)
        let probe = Probe()
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<40 {
                group.addTask {
                    await limiter.withPermit {
                        probe.enter("\(index)")
                        for _ in 0..<5 { await Task.yield() }
                        probe.leave(cancelled: false)
                    }
                }
            }
        }
        #expect(probe.started.count == 40)
        #expect(probe.maxConcurrent <= permits)
        #expect(probe.maxConcurrent >= 1)
    }
}
