import GantryCore
import GantryPostgres

/// Wires a node's change feed (`PostgresChangeFeed`) to its runtime: every announcement is published on the
/// in-process bus, and a catalog change (a runner function registered or removed through another node) also
/// re-reads the stored registrations, as does every catch-up.
enum ClusterFeed {
    static func make(store: PostgresJobStore, runtime: QueueRuntime) -> PostgresChangeFeed {
        let notifier = runtime.notifier
        let runners = runtime.runners
        let syncCatalog: @Sendable () -> Void = { Task { try? await runners.syncStoredRegistrations() } }
        return PostgresChangeFeed(
            store: store,
            publish: { key in
                if key == NotifierKeys.catalog { syncCatalog() } else { notifier.publish(key) }
            },
            catchUp: {
                notifier.publishAll()
                syncCatalog()
            })
    }
}
