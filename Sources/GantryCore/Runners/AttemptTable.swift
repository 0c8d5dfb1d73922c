import Foundation
import Synchronization

/// What the gateway remembers of the runner attempts it handed out, so the per-job calls (events, results) need
/// no store read to learn their function, tenant or deadline. A host that restarted does not have them; the calls
/// then read the request once and remember it.
final class AttemptTable: Sendable {
    struct Attempt: Sendable {
        var functionID: String
        var tenant: String
        var syncMode: Bool
        var startedAt: Date
        var reporter: StoreReporter
        var lastUsed: Date
    }

    private let table = Mutex<[LeaseFence: Attempt]>([:])

    func insert(_ fence: LeaseFence, _ attempt: Attempt) {
        table.withLock { $0[fence] = attempt }
    }

    func get(_ fence: LeaseFence, now: Date) -> Attempt? {
        table.withLock { table in
            table[fence]?.lastUsed = now
            return table[fence]
        }
    }

    func remove(_ fence: LeaseFence) {
        _ = table.withLock { $0.removeValue(forKey: fence) }
    }

    /// Forgets attempts untouched since `instant` (their runner went away; the sweeper rescues the requests).
    func prune(olderThan instant: Date) {
        table.withLock { table in table = table.filter { $0.value.lastUsed >= instant } }
    }
}
