import Foundation
import GantryCore
import Testing

/// A long, seeded mix of submits, claims, releases, cancels and finishes, checked after every step against a
/// plain model of the queue: claim order and every queue position must match (priority, then submission order).
@Suite struct QueueModelTests {
    /// What the model knows of one request.
    private struct Entry {
        var function: String
        var priority: RequestPriority
        var order: Int
        var queued = true
        var attempt = 0
    }

    /// A deterministic generator (SplitMix64), so a failure replays identically.
    private struct Seeded {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func claimsAndPositionsFollowTheModel(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            var random = Seeded(state: 42)
            var entries: [String: Entry] = [:]
            var running: [String] = []
            let functions = ["f", "g"]
            for step in 0..<2000 {  // about 800 submits: several of SQLite's 256-number position blocks
                switch random.next(10) {
                case 0..<4:
                    let id = "r\(step)"
                    let entry = Entry(
                        function: functions[random.next(2)], priority: random.next(3) == 0 ? .low : .normal,
                        order: step)
                    try await insert(store, id, function: entry.function, priority: entry.priority)
                    entries[id] = entry
                case 4..<7:
                    let function = functions[random.next(2)]
                    let expected = entries.filter { $0.value.queued && $0.value.function == function }
                        .min { ($0.value.priority, $0.value.order) < ($1.value.priority, $1.value.order) }?.key
                    let claimed = try await claim(store, function: function)
                    #expect(claimed?.id == expected, "step \(step)")
                    if let id = claimed?.id {
                        entries[id]?.queued = false
                        entries[id]?.attempt += 1
                        running.append(id)
                    }
                case 7 where !running.isEmpty:
                    let id = running.remove(at: random.next(running.count))
                    let attempt = entries[id]!.attempt
                    if random.next(2) == 0 {
                        #expect(try await store.requestRelease(RequestReleaseParams(fence: fence(id, attempt: attempt))))
                        entries[id]?.queued = true
                        entries[id]?.attempt -= 1
                    } else {
                        #expect(try await succeed(store, id, attempt: attempt))
                    }
                case 8:
                    let queued = entries.filter(\.value.queued).keys.sorted()
                    guard !queued.isEmpty else { break }
                    let id = queued[random.next(queued.count)]
                    #expect(try await store.requestCancel(id: id, now: at(2)) == .cancelled)
                    entries[id]?.queued = false
                default:
                    break
                }
                // Every position is a read per request: check them periodically, not after each step.
                guard step % 40 == 39 else { continue }
                let queued = entries.filter(\.value.queued)
                for (id, entry) in queued {
                    let ahead = queued.values.filter {
                        $0.function == entry.function && ($0.priority, $0.order) < (entry.priority, entry.order)
                    }.count
                    #expect(try await store.requestQueuePosition(id: id) == ahead, "\(id) at step \(step)")
                }
                for id in entries.filter({ !$0.value.queued }).keys.sorted().prefix(5) {
                    #expect(try await store.requestQueuePosition(id: id) == nil, "\(id) at step \(step)")
                }
            }
        }
    }
}
