import Foundation
import Synchronization

/// Terminal requests this process wrote or read lately, so that the status poll which finds a request finished and
/// the result fetch after it are answered from memory instead of the store.
///
/// Sound because a terminal request never changes: every transition out of `running` or `queued` is guarded by
/// state, so the record a terminal write returned (or a read found) is what every later read would return, on any
/// node, until retention prunes it. An entry therefore lives until the earlier of `lifetime` after it was kept and
/// the moment its request becomes old enough to be pruned (`finishedAt + retention`).
///
/// Bounded by `capacity` entries and `maxBytes` of input and result bodies; the oldest go first. A record larger
/// than `maxRecordBytes` is not kept.
final class FinishedRecords: Sendable {
    private struct Entry {
        var record: RequestRecord
        var expires: Date
        var bytes: Int
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Ids in the order they were kept; stale ids (replaced or expired entries) are skipped when evicting.
        var order: [String] = []
        var head = 0
        var bytes = 0
    }

    private let state = Mutex(State())
    private let capacity: Int
    private let maxBytes: Int
    private let maxRecordBytes: Int
    private let lifetime: TimeInterval
    private let retention: TimeInterval
    private let now: @Sendable () -> Date

    init(capacity: Int = 8_192, maxBytes: Int = 32 << 20, maxRecordBytes: Int = 256 << 10, lifetime: TimeInterval = 30,
         retention: TimeInterval, now: @escaping @Sendable () -> Date) {
        self.capacity = capacity
        self.maxBytes = maxBytes
        self.maxRecordBytes = maxRecordBytes
        self.lifetime = lifetime
        self.retention = retention
        self.now = now
    }

    /// Keeps a terminal record (others are ignored).
    func keep(_ record: RequestRecord) {
        guard record.state.isTerminal else { return }
        let bytes = record.input.count + (record.result?.body.count ?? 0) + 512
        guard bytes <= maxRecordBytes else { return }
        let instant = now()
        var expires = instant.addingTimeInterval(lifetime)
        if let finished = record.finishedAt { expires = min(expires, finished.addingTimeInterval(retention)) }
        guard expires > instant else { return }
        state.withLock { state in
            if let old = state.entries.updateValue(Entry(record: record, expires: expires, bytes: bytes), forKey: record.id) {
                state.bytes -= old.bytes
            } else {
                state.order.append(record.id)
            }
            state.bytes += bytes
            while state.entries.count > capacity || state.bytes > maxBytes {
                Self.evictOldest(&state)
            }
            Self.compact(&state)
        }
    }

    /// The kept record of `id`, or nil when none is kept (or it expired).
    func record(id: String) -> RequestRecord? {
        let instant = now()
        return state.withLock { state in
            guard let entry = state.entries[id] else { return nil }
            guard entry.expires > instant else {
                state.entries.removeValue(forKey: id)
                state.bytes -= entry.bytes
                return nil
            }
            return entry.record
        }
    }

    /// How many records are kept (for tests).
    var count: Int { state.withLock { $0.entries.count } }

    private static func evictOldest(_ state: inout State) {
        while state.head < state.order.count {
            let id = state.order[state.head]
            state.head += 1
            if let entry = state.entries.removeValue(forKey: id) {
                state.bytes -= entry.bytes
                return
            }
        }
    }

    /// Drops the consumed front of `order` once it is half the array, and ids whose entries expired meanwhile.
    private static func compact(_ state: inout State) {
        guard state.head > 1_024, state.head * 2 > state.order.count else { return }
        state.order = state.order[state.head...].filter { state.entries[$0] != nil }
        state.head = 0
    }
}
