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
    func prepare(_ call: FalCall) throws -> (function: RegisteredFunction, input: Data) {
        guard let function = queue.registry.function(id: call.functionID) else {
            throw APIError(.notFound, "function_not_found", "This host does not serve \(call.functionID), which this request needs")
        }
        let input: Data
        switch function.validate(.object(call.input)) {
        case .failure(let failure): throw APIError(call.mapped(.validation(failure)))
        case .success(let validated): input = validated.encoded()
        }
        do {
            try function.handler.check(input: input)
        } catch let error as FunctionError {
            throw APIError(call.mapped(error))
        }
        return (function, input)
    }

    /// Validates the call (`prepare`), checks the webhook, then queues it unless the bound is reached.
    func submit(_ call: FalCall, request: FooocusAPIRequest, tenant: String) async throws -> Admission {
        let (function, input) = try prepare(call)
        if let url = request.webhookURL { try await webhookCheck.check(url, field: ["body", "webhook_url"]) }
        await gate.acquire()
        defer { gate.release() }
        let counts = try await queue.store.requestCounts()
        let active = FooocusAPITranslation.functionIDs.reduce(0) { sum, id in
            sum + (counts[id]?[.queued] ?? 0) + (counts[id]?[.running] ?? 0)
        }
        guard active < queueSize else { return .queueFull }
        let record = try await queue.submit(.init(function: function, input: input, tenant: tenant,
                                                  webhookURL: request.webhookURL ?? webhookURL, webhookFormat: .fooocus))
        index.add(.init(id: record.id, kind: request.kind, requireBase64: request.requireBase64), tenant: tenant)
        return .accepted(record)
    }

    /// Waits until the request is terminal (woken by the queue's change notifications, rechecking every second for
    /// changes made by another process) and returns it.
    func finished(id: String) async throws -> RequestRecord {
        while true {
            let subscription = queue.notifier.subscribe(id)
            guard let record = try await queue.store.requestGet(id: id) else {
                subscription.cancel()
                throw APIError(.notFound, "request_not_found", "Request \(id) is gone (pruned)")
            }
            if record.state.isTerminal {
                subscription.cancel()
                return record
            }
            await subscription.wait(timeout: .seconds(1))
            try Task.checkCancellation()
        }
    }

    /// Cancels the fooocus requests of `tenant` running in this process (`POST /v1/generation/stop`); queued ones
    /// and other tenants' are untouched, and with nothing running nothing happens (no flag carries over to the
    /// next job, unlike Fooocus-API). Returns the ids it cancelled.
    func stop(tenant: String) async throws -> [String] {
        var stopped: [String] = []
        for id in queue.dispatcher.runningIDs {
            guard let record = try await queue.get(id: id, tenant: tenant), record.state == .running,
                  FooocusAPITranslation.functionIDs.contains(record.functionID) else { continue }
            switch try await queue.cancel(id: id, tenant: tenant) {
            case .cancelled, .cancelRequested: stopped.append(id)
            case .alreadyCompleted, .notFound: break
            }
        }
        return stopped
    }
}
