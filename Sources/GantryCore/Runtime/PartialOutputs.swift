import Foundation
import Synchronization

/// Partial outputs of running requests, for fal's output stream (`POST /{owner}/{alias}/stream`): a function (in
/// process, or a runner through its events) emits them in order and stream clients read them from the start.
///
/// They live in memory of the process that received them and are bounded: at most `maxItems` and `maxBytes` per
/// request (later ones are dropped and counted), entries are forgotten `keepAfterFinish` after their request
/// finished, and any entry untouched for `maxIdle`. A stream that joins late still sees every kept item.
public final class PartialOutputs: Sendable {
    struct Entry {
        var items: [JSONValue] = []
        var bytes = 0
        var dropped = 0
        var touched: Date
        var finishedAt: Date?
    }

    struct Table {
        var entries: [String: Entry] = [:]
        var lastPrune = Date.distantPast
        subscript(id: String) -> Entry? {
            get { entries[id] }
            set { entries[id] = newValue }
        }
    }

    private let entries = Mutex(Table())
    private let notifier: ChangeNotifier
    let maxItems: Int
    let maxBytes: Int
    let keepAfterFinish: TimeInterval = 60
    let maxIdle: TimeInterval = 3_600
    private let now: @Sendable () -> Date

    public init(notifier: ChangeNotifier, maxItems: Int = 1_024, maxBytes: Int = 4 << 20, now: @escaping @Sendable () -> Date = { Date() }) {
        self.notifier = notifier
        self.maxItems = maxItems
        self.maxBytes = maxBytes
        self.now = now
    }

    /// Appends a partial output of `requestID` and wakes its stream readers. False when the bounds dropped it.
    @discardableResult
    public func publish(_ requestID: String, _ value: JSONValue, size: Int? = nil) -> Bool {
        let instant = now()
        let bytes = size ?? value.encoded().count
        let kept: Bool = entries.withLock { table in
            Self.prune(&table, now: instant, keepAfterFinish: keepAfterFinish, maxIdle: maxIdle)
            var entry = table[requestID] ?? Entry(touched: instant)
            entry.touched = instant
            let fits = entry.items.count < maxItems && entry.bytes + bytes <= maxBytes
            if fits {
                entry.items.append(value)
                entry.bytes += bytes
            } else {
                entry.dropped += 1
            }
            table[requestID] = entry
            return fits
        }
        if kept { notifier.publish(NotifierKeys.partial(requestID)) }
        return kept
    }

    /// The items of `requestID` from index `start` on, and how many were dropped so far.
    public func read(_ requestID: String, from start: Int) -> (items: [JSONValue], dropped: Int) {
        entries.withLock { table in
            guard var entry = table[requestID] else { return ([], 0) }
            entry.touched = now()
            table[requestID] = entry
            return (start < entry.items.count ? Array(entry.items[start...]) : [], entry.dropped)
        }
    }

    /// Marks the request finished; its items stay readable for `keepAfterFinish`.
    public func finish(_ requestID: String) {
        let instant = now()
        entries.withLock { table in
            table[requestID]?.finishedAt = instant
        }
        notifier.publish(NotifierKeys.partial(requestID))
    }

    private static func prune(_ table: inout Table, now: Date, keepAfterFinish: TimeInterval, maxIdle: TimeInterval) {
        // Amortised: at most one pass a second.
        guard now.timeIntervalSince(table.lastPrune) >= 1 else { return }
        table.lastPrune = now
        table.entries = table.entries.filter { _, entry in
            if let finished = entry.finishedAt, now.timeIntervalSince(finished) > keepAfterFinish { return false }
            return now.timeIntervalSince(entry.touched) <= maxIdle
        }
    }
}
