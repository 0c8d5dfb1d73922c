import Foundation
@testable import GantryCore
@testable import GantrySQLite
import Testing

/// A micro-benchmark of the SQLite store on a temporary file. Off unless `GANTRY_STORE_BENCH=1`, so it never slows
/// the suite: `GANTRY_STORE_BENCH=1 swift test --skip-build --filter StoreBenchmarkTests`. Numbers from a debug
/// build overstate the Swift side; compare like with like.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["GANTRY_STORE_BENCH"] == "1"), .serialized)
struct StoreBenchmarkTests {
    @Test func inserts64Concurrent() async throws {
        try await withBenchStore { store in
            let tasks = 64, each = 100
            let seconds = try await timed {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for task in 0..<tasks {
                        group.addTask {
                            for index in 0..<each { try await insert(store, "t\(task)-\(index)") }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            report("inserts, 64 concurrent inserters", count: tasks * each, seconds: seconds)
            #expect(try await store.requestCounts()["echo"]?[.queued] == tasks * each)
        }
    }

    @Test func claimFinish8Workers() async throws {
        try await withBenchStore { store in
            let total = 4000
            for index in 0..<total { try await insert(store, "r\(index)") }
            let seconds = try await timed {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for worker in 0..<8 {
                        group.addTask {
                            while let record = try await claim(store, owner: "w\(worker)") {
                                #expect(try await succeed(store, record.id, attempt: record.attempt))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            report("claim+finish pairs, 8 workers", count: total, seconds: seconds)
            #expect(try await store.requestCounts()["echo"]?[.succeeded] == total)
        }
    }

    @Test func requestGetLatency() async throws {
        try await withBenchStore { store in
            let rows = 2000
            for index in 0..<rows { try await insert(store, "r\(index)") }
            // One caller: the latency of a poll.
            var samples: [Double] = []
            samples.reserveCapacity(20_000)
            for index in 0..<20_000 {
                let start = ContinuousClock.now
                _ = try await store.requestGet(id: "r\(index % rows)")
                samples.append((ContinuousClock.now - start).seconds)
            }
            samples.sort()
            let mean = samples.reduce(0, +) / Double(samples.count)
            print(String(
                format: "[store-bench] requestGet, 1 caller: mean %.1f µs, p50 %.1f µs, p99 %.1f µs",
                mean * 1e6, samples[samples.count / 2] * 1e6, samples[samples.count * 99 / 100] * 1e6))

            // Many callers: polls/s.
            let callers = 64, each = 500
            let seconds = try await timed {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for caller in 0..<callers {
                        group.addTask {
                            for index in 0..<each { _ = try await store.requestGet(id: "r\((caller * each + index) % rows)") }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            report("requestGet, 64 concurrent callers", count: callers * each, seconds: seconds)
            _ = try await store.requestQueuePosition(id: "r1")
        }
    }
}

private func withBenchStore(_ body: (SQLiteJobStore) async throws -> Void) async throws {
    try await withTemporaryDirectory { directory in
        let store = try SQLiteJobStore(path: directory.appendingPathComponent("bench.sqlite").path)
        try await body(store)
        try store.close()
    }
}

private func timed(_ body: () async throws -> Void) async throws -> Double {
    let start = ContinuousClock.now
    try await body()
    return (ContinuousClock.now - start).seconds
}

private func report(_ what: String, count: Int, seconds: Double) {
    print(String(format: "[store-bench] %@: %d in %.3f s = %.0f/s", what, count, seconds, Double(count) / seconds))
}

extension Duration {
    fileprivate var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
}
