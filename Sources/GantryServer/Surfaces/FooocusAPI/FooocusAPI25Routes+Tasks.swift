import Foundation
import GantryCore
import HTTPTypes
import Hummingbird

extension FooocusAPI25Surface {
    /// `GET /tasks`, `GET /tasks/{task_id}`, `POST /v1/engine/control`. Every view is the caller's tenant's: another
    /// tenant's task id answers like an unknown one.
    func registerTaskRoutes(on router: RouteTable) {
        router.get("/tasks") { request, context in try await listTasks(request, context: context) }
        router.get("/tasks/:task_id") { request, context in
            let id = try context.parameters.require("task_id")
            guard let record = try await jobs.queue.get(id: id, tenant: context.tenant),
                  FooocusAPITranslation.functionIDs.contains(record.functionID) else {
                return Response.json(.array([]))  // FooocusAPI's answer for an unknown task
            }
            return Response.json(try await records.record(record), headers: [.falRequestID: record.id])
        }
        router.post("/v1/engine/control") { request, context in try await control(request, context: context) }
    }

    /// `GET /tasks?query=all|history|current|pending&page=0&page_size=10[&start_at=…&end_at=…]`:
    /// `{"history": [finished, newest first], "current": [running, with preview], "pending": [queued, oldest first]}`
    /// over the tasks this process accepted from the tenant. History and pending are paged; a `start_at` before
    /// `end_at` (ISO 8601, read as UTC; `end_at` defaults to now) instead selects history by queueing time, unpaged.
    /// `action=delete` is refused: finished requests are pruned after the retention period.
    func listTasks(_ request: Request, context: GantryRequestContext) async throws -> Response {
        let query = request.uri.queryParameters.get("query").flatMap { $0.isEmpty ? nil : $0 } ?? "all"
        guard ["all", "history", "current", "pending"].contains(query) else {
            throw APIError.field(["query", "query"], "Input should be 'all', 'history', 'current' or 'pending'", type: "enum")
        }
        let page = try FooocusAPISurface.queryInt(request, "page", minimum: 0) ?? 0
        let pageSize = min(try FooocusAPISurface.queryInt(request, "page_size", minimum: 1) ?? 10, 1_000)
        if request.uri.queryParameters.get("action")?.lowercased() == "delete" {
            throw APIError.field(["query", "action"],
                                 "deleting tasks is not supported here; finished requests are pruned after the retention period", type: "value_error")
        }
        let window = Self.window(request)
        var history: [RequestRecord] = []
        var current: [RequestRecord] = []
        var pending: [RequestRecord] = []
        for task in tasks.tasks(tenant: context.tenant) {
            guard let record = try await jobs.queue.get(id: task.id, tenant: context.tenant) else { continue }
            switch record.state {
            case .queued: pending.append(record)
            case .running: current.append(record)
            default: history.append(record)
            }
        }
        history.reverse()
        if let window {
            history = history.filter { window.contains($0.createdAt) }
        } else {
            history = Self.page(history, page, pageSize)
        }
        pending = Self.page(pending, page, pageSize)
        func rendered(_ list: [RequestRecord], _ kind: String) async throws -> JSONValue {
            guard query == "all" || query == kind else { return .array([]) }
            var items: [JSONValue] = []
            for record in list { items.append(try await records.record(record)) }
            return .array(items)
        }
        return .json(.object(["history": try await rendered(history, "history"), "current": try await rendered(current, "current"),
                              "pending": try await rendered(pending, "pending")]))
    }

    /// `POST /v1/engine/control?action=stop|skip`. `stop` cancels the caller's running task (the tenant's running
    /// fooocus requests in this process); queued tasks, other tenants' and later tasks are untouched, and nothing
    /// carries over when nothing runs. `skip` (FooocusAPI: abandon the current image, go on with the batch) does the
    /// same here — a fal function runs its batch as one request — and the task reads `skip`.
    func control(_ request: Request, context: GantryRequestContext) async throws -> Response {
        guard let action = request.uri.queryParameters.get("action").map({ String($0) }) else {
            throw APIError.field(["query", "action"], "Field required", type: "missing")
        }
        guard action == "stop" || action == "skip" else { return .json(.object(["message": .string("Invalid control action")])) }
        let running = try await jobs.running(tenant: context.tenant).map(\.id)
        // Marked before the cancel, so a waiter that wakes on the cancellation already reads the action.
        tasks.markStopped(running, action: action)
        let stopped = running.isEmpty ? [] : try await jobs.stop(tenant: context.tenant)
        guard !stopped.isEmpty else { return .json(.object(["message": .string("No task running")])) }
        context.logger.info("\(action) control", metadata: ["request_ids": "\(stopped)", "surface": "fooocusapi-2.5"])
        // FooocusAPI's own spelling: "task stoped", "task skiped".
        return .json(.object(["message": .string("task \(action)ed")]))
    }

    /// One page of a list.
    static func page<T>(_ list: [T], _ page: Int, _ size: Int) -> [T] {
        let (start, overflow) = page.multipliedReportingOverflow(by: size)
        guard !overflow, start < list.count else { return [] }
        return Array(list[start..<min(start + size, list.count)])
    }

    /// The `[start_at, end_at]` window, or nil when `start_at` is absent, unreadable or not before `end_at`.
    static func window(_ request: Request) -> ClosedRange<Date>? {
        guard let start = request.uri.queryParameters.get("start_at").flatMap({ isoDate(String($0)) }) else { return nil }
        let end = request.uri.queryParameters.get("end_at").flatMap { isoDate(String($0)) } ?? Date()
        return start < end ? start...end : nil
    }

    /// `YYYY-MM-DDTHH:MM:SS` (anything after the seconds ignored, as FooocusAPI does), read as UTC.
    static func isoDate(_ text: String) -> Date? {
        guard text.count >= 19 else { return nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        return formatter.date(from: String(text.prefix(19)))
    }
}
