import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Brings other nodes' changes to this node's waiters: it LISTENs on the cluster's change channel (fed by triggers,
/// `PostgresSchema.changeChannel`) and publishes every payload on the in-process bus, so status streams, sync waits,
/// runner long polls and idle dispatchers wake for work any node did, as they do for this node's own.
///
/// The listener holds one pooled connection. When it drops, the feed listens again (backing off up to 5 s), and
/// each time it starts listening it wakes every waiter once (`catchUp`), since changes made while it was not
/// listening were not announced to it. Polling stays as the fallback: every waiter re-reads at least once a second.
public struct PostgresChangeFeed: Service {
    /// Whether the feed is listening now, and how many announcements it has passed on (for tests and metrics).
    public final class Status: Sendable {
        let listeningNow = Atomic<Bool>(false)
        let received = Atomic<Int>(0)
        public var isListening: Bool { listeningNow.load(ordering: .acquiring) }
        public var announcements: Int { received.load(ordering: .relaxed) }
    }

    let store: PostgresJobStore
    let publish: @Sendable (String) -> Void
    let catchUp: @Sendable () -> Void
    public let status = Status()

    /// - Parameters:
    ///   - publish: publishes one key on the in-process bus.
    ///   - catchUp: wakes every waiter (after a span in which announcements may have been missed).
    public init(store: PostgresJobStore, publish: @escaping @Sendable (String) -> Void, catchUp: @escaping @Sendable () -> Void) {
        self.store = store
        self.publish = publish
        self.catchUp = catchUp
    }

    public func run() async throws {
        var backoff: Duration = .milliseconds(100)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await listen() }
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { break }
                store.logger.warning("the cluster change feed stopped; listening again", metadata: ["error": "\(String(reflecting: error))"])
            }
            // A feed that had been listening starts over from the shortest wait; one that cannot connect waits longer.
            backoff = status.listeningNow.exchange(false, ordering: .acquiringAndReleasing) ? .milliseconds(100) : min(backoff * 2, .seconds(5))
            let wait = backoff
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
        }
        status.listeningNow.store(false, ordering: .releasing)
    }

    private func listen() async throws {
        try await store.client.withConnection { connection in
            try await connection.listen(on: PostgresSchema.changeChannel) { announcements in
                status.listeningNow.store(true, ordering: .releasing)
                catchUp()
                for try await announcement in announcements {
                    status.received.add(1, ordering: .relaxed)
                    publish(announcement.payload)
                }
            }
        }
    }
}
