import Metrics
import Synchronization

/// Open connections per client address, shared by every event loop, and the per-address cap.
final class ClientAddressCounter: Sendable {
    private let limit: Int
    private struct Counts {
        var byAddress: [String: Int] = [:]
        var total = 0
    }
    private let counts = Mutex(Counts())
    private let openGauge = Gauge(label: "gantry_connections_open")

    /// - Parameter limit: connections one address may hold open; 0 for no limit.
    init(limit: Int) {
        self.limit = limit
    }

    /// Counts a new connection from `address`; false (and nothing counted) when the address is at its limit.
    func open(_ address: String) -> Bool {
        let total: Int? = counts.withLock { counts in
            let current = counts.byAddress[address, default: 0]
            if limit > 0 && current >= limit { return nil }
            counts.byAddress[address] = current + 1
            counts.total += 1
            openGauge.record(counts.total)  // under the lock, so the gauge never shows an older count last
            return counts.total
        }
        return total != nil
    }

    /// Forgets a connection `open` counted.
    func close(_ address: String) {
        counts.withLock { counts in
            let remaining = counts.byAddress[address, default: 1] - 1
            counts.byAddress[address] = remaining > 0 ? remaining : nil
            counts.total -= 1
            openGauge.record(counts.total)
        }
    }

    /// Connections open now.
    var total: Int { counts.withLock { $0.total } }
}
