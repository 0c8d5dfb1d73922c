import Foundation
import GantryCore

/// The Fooocus-API jobs this process accepted, per tenant in submit order (the newest `limit` per tenant), with what
/// the Fooocus-API views need that the queue does not keep: the job type and `require_base64`. Like Fooocus-API
/// without `--persistent` it starts empty after a restart; query-job still finds every request in the store.
final class FooocusJobIndex: @unchecked Sendable {
    /// One accepted job.
    struct Job: Sendable, Equatable {
        var id: String
        var kind: FooocusAPIRequest.Kind
        var requireBase64: Bool
    }

    let limit: Int
    private let lock = NSLock()
    private var byTenant: [String: [Job]] = [:]
    private var byID: [String: Job] = [:]

    init(limit: Int = 1_000) {
        self.limit = limit
    }

    func add(_ job: Job, tenant: String) {
        lock.withLock {
            byTenant[tenant, default: []].append(job)
            byID[job.id] = job
            if let count = byTenant[tenant]?.count, count > limit, let oldest = byTenant[tenant]?.removeFirst() {
                byID.removeValue(forKey: oldest.id)
            }
        }
    }

    /// The job with this id, whichever tenant it belongs to (callers check the tenant on the stored request).
    func job(id: String) -> Job? { lock.withLock { byID[id] } }

    /// A tenant's jobs, oldest first.
    func jobs(tenant: String) -> [Job] { lock.withLock { byTenant[tenant] ?? [] } }
}

/// The Fooocus-API side of the queue: submits translated requests under Fooocus-API's queue bound, waits for them,
/// and stops a tenant's running ones. One request is one queue entry: its fal request id is its Fooocus-API job id.
struct FooocusAPIJobs: Sendable {
    let queue: RequestQueue
    let index: FooocusJobIndex
    /// `--fooocus-queue-size`: queued plus running requests of the fooocus functions, all tenants.
    let queueSize: Int
    /// `--fooocus-webhook-url`, used when a request names none.
    let webhookURL: String?
    let webhookCheck: WebhookURLCheck
    /// Makes count-then-insert one step in this process, so concurrent submits cannot both take the last place.
    let gate = ConcurrencyLimiter(permits: 1)

    /// What a submit came to.
    enum Admission {
        case accepted(RequestRecord)
        case queueFull
    }

    /// The call's function and its validated input: the schema and the function's submit-time check, every error
    /// renamed to the request's own fields.
    func prepare(_ call: FalCall) throws -> RequestQueue.Admitted {
        guard let function = queue.function(id: call.functionID) else {
            throw APIError(.notFound, "function_not_found", "This host does not serve \(call.functionID), which this request needs")
        }
        do {
            return try queue.admit(function, input: .object(call.input))
        } catch {
            throw APIError(call.mapped(error))
        }
    }

    /// Validates the call (`prepare`), checks the webhook, then queues it unless the bound is reached.
    func submit(_ call: FalCall, request: FooocusAPIRequest, tenant: String) async throws -> Admission {
        let admitted = try prepare(call)
        if let url = request.webhookURL { try await webhookCheck.check(url, field: ["body", "webhook_url"]) }
        await gate.acquire()
        defer { gate.release() }
        guard try await queue.activeCount(functionIDs: Array(FooocusAPITranslation.functionIDs)) < queueSize else { return .queueFull }
        let record = try await queue.submit(.init(admitted, tenant: tenant, webhookURL: request.webhookURL ?? webhookURL,
                                                  webhookFormat: .fooocus)).record
        index.add(.init(id: record.id, kind: request.kind, requireBase64: request.requireBase64), tenant: tenant)
        return .accepted(record)
    }

    /// Waits until the tenant's request is terminal and returns it.
    func finished(id: String, tenant: String) async throws -> RequestRecord {
        guard let record = try await queue.waitUntilFinished(id: id, tenant: tenant) else {
            throw APIError(.notFound, "request_not_found", "Request \(id) is gone (pruned)")
        }
        return record
    }

    /// The tenant's running fooocus requests, wherever they run (this process or a runner).
    func running(tenant: String) async throws -> [RunningAttempt] {
        try await queue.running(tenant: tenant, functionIDs: Array(FooocusAPITranslation.functionIDs))
    }

    /// Cancels the running fooocus requests of `tenant` (`POST /v1/generation/stop`); queued ones and other
    /// tenants' are untouched, and with nothing running nothing happens (no flag carries over to the next job,
    /// unlike Fooocus-API). Returns the ids it cancelled.
    func stop(tenant: String) async throws -> [String] {
        var stopped: [String] = []
        for record in try await running(tenant: tenant) {
            switch try await queue.cancel(id: record.id, tenant: tenant) {
            case .cancelled, .cancelRequested: stopped.append(record.id)
            case .alreadyCompleted, .notFound: break
            }
        }
        return stopped
    }
}
