import Foundation
@testable import GantryCore
@testable import GantryPostgres
import Testing

/// What only a shared PostgreSQL store has to get right: several nodes at once.
@Suite("PostgreSQL store", .enabled(if: TestPostgres.configured))
struct PostgresStoreTests {
    /// Nodes starting together apply each migration once (the advisory lock), and a later start applies none.
    @Test func concurrentStartsMigrateOnce() async throws {
        try await TestPostgres.withDatabase { url in
            let applied = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 { group.addTask { try await PostgresJobStore.migrate(url: url, logger: TestPostgres.logger) } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(applied.sorted() == [0, 0, 0, PostgresSchema.migrations.count])
            #expect(try await PostgresJobStore.migrate(url: url, logger: TestPostgres.logger) == 0)
        }
    }

    /// Three nodes claiming one queue at once: every request is claimed exactly once, none is lost, and each
    /// finishes under its own fence.
    @Test func nodesClaimingTogetherNeverShareARequest() async throws {
        try await TestPostgres.withDatabase { url in
            let nodes = try await (0..<3).asyncMap { _ in try await PostgresJobStore.open(url: url, logger: TestPostgres.logger) }
            defer { nodes.forEach { $0.close() } }
            for index in 0..<150 { try await insert(nodes[index % 3], "r\(index)") }
            let claims = try await withThrowingTaskGroup(of: [(String, Int)].self) { group in
                for (number, node) in nodes.enumerated() {
                    group.addTask {
                        var mine: [(String, Int)] = []
                        while true {
                            let batch = try await node.requestClaim(RequestClaimParams(
                                functionIDs: ["echo"], owner: "node-\(number)", limit: 4, now: at(1), leaseDuration: 60))
                            if batch.isEmpty { return mine }
                            for record in batch {
                                #expect(try await succeed(node, record.id, attempt: record.attempt, owner: "node-\(number)"))
                                mine.append((record.id, number))
                            }
                        }
                    }
                }
                return try await group.reduce(into: [(String, Int)]()) { $0 += $1 }
            }
            #expect(claims.count == 150)
            #expect(Set(claims.map(\.0)).count == 150)
            let counts = try await nodes[0].requestCounts()
            #expect(counts["echo"]?[.succeeded] == 150)
            #expect(counts["echo"]?[.queued] == nil)
        }
    }

    /// Finishes written together (`FinishCoalescer`: one statement for many rows) keep each row's own fence: of two
    /// finishes of one attempt exactly one lands, a finish under a stale fence changes nothing, and every stored
    /// result is the one its landing finish carried, with its nullable fields as given.
    @Test func concurrentFinishesKeepEachFence() async throws {
        try await TestPostgres.withDatabase { url in
            let store = try await PostgresJobStore.open(url: url, logger: TestPostgres.logger)
            defer { store.close() }
            for index in 0..<80 { try await insert(store, "r\(index)") }
            let claimed = try await store.requestClaim(RequestClaimParams(functionIDs: ["echo"], owner: "worker-1", limit: 80, now: at(1),
                                                                          leaseDuration: 60))
            #expect(claimed.count == 80)
            func update(_ index: Int, body: String, attempt: Int = 1) -> TerminalUpdate {
                let fence = LeaseFence(requestID: "r\(index)", attempt: attempt, owner: "worker-1")
                let result = RequestResult(status: index % 2 == 0 ? 200 : 500, body: Data(body.utf8))
                return index % 2 == 0
                    ? TerminalUpdate(RequestSucceededParams(fence: fence, result: result, inferenceTime: Double(index), now: at(2)))
                    : TerminalUpdate(RequestFailedParams(fence: fence, result: result, errorMessage: "boom \(index)",
                                                          errorType: "internal_error", inferenceTime: nil, now: at(3)))
            }
            // Every request finished twice at once with different bodies, and once more under a wrong attempt.
            let outcomes = try await withThrowingTaskGroup(of: (Int, String, RequestRecord?).self) { group in
                for index in 0..<80 {
                    for body in ["first", "second"] {
                        group.addTask { (index, body, try await store.requestFinish(update(index, body: body))) }
                    }
                    group.addTask { (index, "stale", try await store.requestFinish(update(index, body: "stale", attempt: 2))) }
                }
                return try await group.reduce(into: [(Int, String, RequestRecord?)]()) { $0.append($1) }
            }
            for index in 0..<80 {
                let landed = outcomes.filter { $0.0 == index && $0.2 != nil }
                #expect(landed.count == 1 && landed.first?.1 != "stale", "r\(index): \(landed.map(\.1))")
                let stored = try #require(try await store.requestGet(id: "r\(index)"))
                #expect(stored == landed.first?.2)
                #expect(stored.result?.body == Data((landed.first?.1 ?? "").utf8))
                #expect(stored.state == (index % 2 == 0 ? .succeeded : .failed) && stored.leaseOwner == nil)
                #expect(stored.inferenceTime == (index % 2 == 0 ? Double(index) : nil))
                #expect(stored.errorMessage == (index % 2 == 0 ? nil : "boom \(index)"))
                #expect(stored.errorType == (index % 2 == 0 ? nil : "internal_error"))
            }
        }
    }

    /// One node leads at a time; the leader renews; a lease that expired, or one given up, passes to another node.
    @Test func leadershipIsExclusiveAndPassesOn() async throws {
        try await TestPostgres.withDatabase { url in
            let a = try await PostgresJobStore.open(url: url, logger: TestPostgres.logger)
            let b = try await PostgresJobStore.open(url: url, logger: TestPostgres.logger)
            defer { a.close(); b.close() }
            #expect(try await a.leaderAcquire(name: "maintenance", owner: "a", duration: 30))
            #expect(try await !b.leaderAcquire(name: "maintenance", owner: "b", duration: 30))
            #expect(try await a.leaderAcquire(name: "maintenance", owner: "a", duration: 30))
            #expect(try await b.leaderAcquire(name: "other", owner: "b", duration: 30))
            try await b.leaderRelease(name: "maintenance", owner: "b")  // not b's to give up
            #expect(try await !b.leaderAcquire(name: "maintenance", owner: "b", duration: 30))
            try await a.leaderRelease(name: "maintenance", owner: "a")
            #expect(try await b.leaderAcquire(name: "maintenance", owner: "b", duration: 5))
            #expect(try await !a.leaderAcquire(name: "maintenance", owner: "a", duration: 30))
            // b stops renewing: once its lease has run out, a takes over.
            let took = await eventuallyTrue { try await a.leaderAcquire(name: "maintenance", owner: "a", duration: 30) }
            #expect(took)
            #expect(try await !b.leaderAcquire(name: "maintenance", owner: "b", duration: 30))
        }
    }

    /// The first node's copy of a shared file wins; a replace only lands over the content it expects.
    @Test func sharedFilesFirstWinsAndReplaceIsCompareAndSwap() async throws {
        try await TestPostgres.withDatabase { url in
            let store = try await PostgresJobStore.open(url: url, logger: TestPostgres.logger)
            defer { store.close() }
            #expect(try await store.sharedFileGet(name: "k") == nil)
            #expect(try await store.sharedFileInsertIfAbsent(name: "k", content: Data("first".utf8)) == Data("first".utf8))
            #expect(try await store.sharedFileInsertIfAbsent(name: "k", content: Data("second".utf8)) == Data("first".utf8))
            #expect(try await !store.sharedFileReplace(name: "k", expected: Data("stale".utf8), content: Data("x".utf8), now: Date()))
            #expect(try await store.sharedFileReplace(name: "k", expected: Data("first".utf8), content: Data("third".utf8), now: Date()))
            #expect(try await store.sharedFileGet(name: "k") == Data("third".utf8))
        }
    }

    /// A database that does not answer fails a call after the store's timeout instead of hanging it.
    @Test func unreachableDatabaseFailsInsteadOfHanging() async throws {
        let closed = try DatabaseURL("postgres://nobody@127.0.0.1:1/none?sslmode=disable")
        let started = ContinuousClock.now
        await #expect(throws: (any Error).self) {
            _ = try await PostgresJobStore.open(url: closed, callTimeout: .seconds(1), logger: TestPostgres.logger)
        }
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    /// The URL: parsed, with its defaults, and every bad part named.
    @Test func databaseURLs() throws {
        let url = try DatabaseURL("postgres://gantry:s%40cret@db.internal:6432/jobs?sslmode=require")
        #expect(url.host == "db.internal" && url.port == 6432 && url.username == "gantry" && url.password == "s@cret")
        #expect(url.database == "jobs" && url.sslMode == "require")
        #expect(!url.description.contains("cret"))
        let plain = try DatabaseURL("postgresql://u@h/d")
        #expect(plain.port == 5432 && plain.sslMode == "prefer" && plain.password == nil)
        for (text, named) in [("mysql://u@h/d", "postgres://"), ("postgres://u@h", "no database"), ("postgres://h/d", "no user"),
                              ("postgres://u@h/d?sslmode=maybe", "sslmode"), ("postgres://u@h/d?pool=3", "unknown option pool")] {
            do {
                _ = try DatabaseURL(text)
                Issue.record("\(text) was accepted")
            } catch let error as ConfigurationError {
                #expect(error.message.contains(named), "\(text): \(error.message)")
            }
        }
    }
}

/// Polls `condition` (every 20 ms, for at most 30 s) until it holds.
func eventuallyTrue(_ condition: () async throws -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .seconds(30)
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return false
}

extension Sequence {
    /// `map` with an async transform, one element after the other.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
