import Foundation
@testable import GantryCore
@testable import GantryPostgres
@testable import GantrySQLite
import Testing

/// The stores the conformance suite runs against. PostgreSQL joins when `GANTRY_TEST_POSTGRES` names a server
/// (`scripts/test.sh` always starts one with `scripts/pg-server.sh`); each test then gets a database of its own.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory
    case sqlite
    case postgres

    static var allCases: [StoreKind] { [.memory, .sqlite] + (TestPostgres.configured ? [.postgres] : []) }

    var testDescription: String { rawValue }
}

/// Runs `body` against a fresh, empty store of `kind`, and removes whatever the store left on disk afterwards.
func withStore(_ kind: StoreKind, _ body: (any JobStore) async throws -> Void) async throws {
    switch kind {
    case .memory:
        try await body(MemoryJobStore())
    case .sqlite:
        try await withTemporaryDirectory { directory in
            let store = try SQLiteJobStore(path: directory.appendingPathComponent("jobs.sqlite").path)
            try await body(store)
            try store.close()
        }
    case .postgres:
        try await TestPostgres.withDatabase { url in
            let store = try await PostgresJobStore.open(url: url, logger: TestPostgres.logger)
            defer { store.close() }
            try await body(store)
        }
    }
}

/// Runs `body` with a new empty directory that is deleted afterwards, whether `body` throws or not.
func withTemporaryDirectory(_ body: (URL) async throws -> Void) async throws {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("jobstore-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    try await body(directory)
}

/// The suite's fixed clock: every test passes explicit instants, never the wall clock.
let epoch = Date(timeIntervalSince1970: 1_800_000_000.123456)

/// `epoch` plus `seconds`.
func at(_ seconds: TimeInterval) -> Date { epoch.addingTimeInterval(seconds) }

/// Inserts a request with test defaults.
@discardableResult
func insert(
    _ store: any JobStore, _ id: String, function: String = "echo", priority: RequestPriority = .normal,
    maxAttempts: Int = 3, createdAt: Date = epoch, startDeadline: Date? = nil
) async throws -> RequestRecord {
    try await store.requestInsert(RequestInsertParams(
        id: id, tenant: "tenant-a", functionID: function, input: Data(#"{"id":"\#(id)"}"#.utf8),
        priority: priority, maxAttempts: maxAttempts, createdAt: createdAt, startDeadline: startDeadline)).record
}

/// Claims the next request of `function` at `now` with a 60 s lease.
func claim(_ store: any JobStore, function: String = "echo", owner: String = "worker-1", now: Date = at(1))
    async throws -> RequestRecord?
{
    try await store.requestClaim(RequestClaimParams(functionID: function, owner: owner, now: now, leaseDuration: 60)).first
}

/// The fence of attempt `attempt` of `id` claimed by `owner` (the helpers' default claimant).
func fence(_ id: String, attempt: Int, owner: String = "worker-1") -> LeaseFence {
    LeaseFence(requestID: id, attempt: attempt, owner: owner)
}

/// Finishes an attempt as succeeded with a small result.
func succeed(_ store: any JobStore, _ id: String, attempt: Int, owner: String = "worker-1", now: Date = at(5), body: String = "ok")
    async throws -> Bool
{
    try await store.requestSetSucceeded(RequestSucceededParams(
        fence: fence(id, attempt: attempt, owner: owner), result: RequestResult(status: 200, body: Data(body.utf8)),
        inferenceTime: 1.5, now: now))
}

extension JobStore {
    /// One attempt's heartbeat (the store renews them in batches).
    func requestHeartbeat(_ params: RequestHeartbeatParams) async throws -> HeartbeatOutcome {
        try await requestHeartbeat([params])[0]
    }
}

/// The ids a sequence of claims of `function` returns until none is left.
func drain(_ store: any JobStore, function: String = "echo", now: Date = at(1)) async throws -> [String] {
    var ids: [String] = []
    while let record = try await claim(store, function: function, now: now) { ids.append(record.id) }
    return ids
}

/// A record with its dates rounded to the microsecond: SQL stores keep REAL unix seconds, whose conversion
/// from `Date` may move the last bit, so exact `Date` equality is not part of the contract.
func normalized(_ record: RequestRecord?) -> RequestRecord? {
    guard var record else { return nil }
    func round(_ date: Date?) -> Date? {
        date.map { Date(timeIntervalSince1970: ($0.timeIntervalSince1970 * 1e6).rounded() / 1e6) }
    }
    record.createdAt = round(record.createdAt)!
    record.startedAt = round(record.startedAt)
    record.finishedAt = round(record.finishedAt)
    record.startDeadline = round(record.startDeadline)
    record.leaseExpiresAt = round(record.leaseExpiresAt)
    return record
}

/// Whether two instants agree to the microsecond.
func same(_ a: Date?, _ b: Date?) -> Bool {
    switch (a, b) {
    case (nil, nil): true
    case let (a?, b?): abs(a.timeIntervalSince(b)) < 1e-6
    default: false
    }
}

/// Runs a rescue in its two halves (read candidates, then apply), calling `between` in the gap, the way a
/// concurrent writer could interleave with a sweeper. Only stores that expose the split can run this.
func rescueInTwoHalves(
    _ store: any JobStore, _ params: RequestRescueParams, between: () async throws -> Void
) async throws -> [RescueOutcome] {
    switch store {
    case let memory as MemoryJobStore:
        let candidates = memory.rescueCandidates(params)
        try await between()
        return memory.applyRescue(candidates, params)
    case let sqlite as SQLiteJobStore:
        let candidates = try await sqlite.rescueCandidates(params)
        try await between()
        return try await sqlite.applyRescue(candidates, params)
    case let postgres as PostgresJobStore:
        let candidates = try await postgres.rescueCandidates(params)
        try await between()
        return try await postgres.applyRescue(candidates, params)
    default:
        Issue.record("\(type(of: store)) has no split rescue")
        return []
    }
}
