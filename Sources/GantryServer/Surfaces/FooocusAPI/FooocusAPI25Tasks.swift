import Foundation
import GantryCore

/// The FooocusAPI 2.5 tasks this process accepted — what FooocusAPI keeps in its `generate_record` table and the
/// queue does not: the record number (`id`), `req_params`, and which control action (`stop`/`skip`) ended a task.
/// Per tenant in submit order, the newest `limit`; empty after a restart (`GET /tasks/{id}` still finds every
/// fooocus request in the store).
final class FooocusAPI25TaskIndex: @unchecked Sendable {
    /// One accepted task.
    struct Task: Sendable, Equatable {
        var id: String
        /// FooocusAPI's row id: 1, 2, … in accept order, across tenants, per process.
        var number: Int
        var params: JSONValue
    }

    let limit: Int
    private let lock = NSLock()
    private var byTenant: [String: [Task]] = [:]
    private var byID: [String: Task] = [:]
    private var stopActions: [String: String] = [:]
    private var lastNumber = 0

    init(limit: Int = 1_000) {
        self.limit = limit
    }

    /// Records a task and returns it with its number.
    @discardableResult
    func add(id: String, params: JSONValue, tenant: String) -> Task {
        lock.withLock {
            lastNumber += 1
            let task = Task(id: id, number: lastNumber, params: params)
            byTenant[tenant, default: []].append(task)
            byID[id] = task
            if let count = byTenant[tenant]?.count, count > limit, let oldest = byTenant[tenant]?.removeFirst() {
                byID.removeValue(forKey: oldest.id)
                stopActions.removeValue(forKey: oldest.id)
            }
            return task
        }
    }

    /// The task with this id, whichever tenant it belongs to (callers check the tenant on the stored request).
    func task(id: String) -> Task? { lock.withLock { byID[id] } }

    /// A tenant's tasks, oldest first.
    func tasks(tenant: String) -> [Task] { lock.withLock { byTenant[tenant] ?? [] } }

    /// Remembers that `action` (`stop` or `skip`) is ending these requests; read only once they are cancelled.
    func markStopped(_ ids: [String], action: String) {
        lock.withLock { for id in ids { stopActions[id] = action } }
    }

    /// The control action that ended a cancelled request, if it was one (nil: a fal cancel or a Fooocus-API stop).
    func stopAction(id: String) -> String? { lock.withLock { stopActions[id] } }
}

/// FooocusAPI 2.5's task records (docs/fooocus.md §2.4) for stored requests: `{id, task_id, req_params, in_queue_mills,
/// start_mills, finish_mills, task_status, progress, webhook_url, result}`, plus `preview` on a running task's live
/// record. The task id is the fal request id.
struct FooocusAPI25Records: Sendable {
    let responses: FooocusAPIResponses
    let tasks: FooocusAPI25TaskIndex

    /// The answer to an `async_process` request: FooocusAPI's placeholder record, with the task id only.
    static func pending(taskID: String) -> JSONValue {
        .object(["id": .number(-1), "task_id": .string(taskID), "req_params": .object([:]), "in_queue_mills": .number(-1),
                 "start_mills": .number(-1), "finish_mills": .number(-1), "task_status": .string("pending"), "progress": .number(-1),
                 "preview": .string(""), "webhook_url": .string(""), "result": .array([])])
    }

    /// `task_status`: `pending`, `running`, `finished`; `stop` or `skip` for a task a control action (or any cancel:
    /// `stop`) ended; `failed` for an error (FooocusAPI has no word for it) and a start deadline that passed.
    func status(of record: RequestRecord) -> String {
        switch record.state {
        case .queued: "pending"
        case .running: "running"
        case .succeeded: "finished"
        case .cancelled: tasks.stopAction(id: record.id) ?? "stop"
        case .failed, .expired: "failed"
        }
    }

    /// Progress as FooocusAPI counts it, 0–100: −1 while queued (its placeholder's value), 100 once terminal.
    static func progress(of record: RequestRecord) -> Int {
        switch record.state {
        case .queued: -1
        case .running: min(Int(((record.progress ?? 0) * 100).rounded(.down).clamped(to: 0...100)), 99)
        case .succeeded, .cancelled, .failed, .expired: 100
        }
    }

    /// The output image URLs of a succeeded request.
    func urls(of record: RequestRecord) async throws -> [String] {
        guard record.state == .succeeded else { return [] }
        return try await responses.items(of: record, requireBase64: false).compactMap { $0["url"]?.stringValue }
    }

    /// The record of a stored request. A running task's record carries `preview` (always null: no sampler previews
    /// here), as FooocusAPI's live record does; the others are its database rows, without it.
    func record(_ record: RequestRecord) async throws -> JSONValue {
        func millis(_ date: Date?) -> JSONValue { .number(date.map { ($0.timeIntervalSince1970 * 1000).rounded(.down) } ?? -1) }
        let task = tasks.task(id: record.id)
        var body: [String: JSONValue] = [
            "id": .number(Double(task?.number ?? -1)), "task_id": .string(record.id), "req_params": task?.params ?? .object([:]),
            "in_queue_mills": millis(record.createdAt), "start_mills": millis(record.startedAt), "finish_mills": millis(record.finishedAt),
            "task_status": .string(status(of: record)), "progress": .number(Double(Self.progress(of: record))),
            "webhook_url": .string(record.webhookURL ?? ""), "result": .array(try await urls(of: record).map { .string($0) }),
        ]
        if record.state == .running { body["preview"] = .null }
        return .object(body)
    }
}
