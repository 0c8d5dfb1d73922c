import Foundation
import GantryCore
import HTTPTypes
import Hummingbird

extension FooocusAPISurface {
    /// query-job, job-queue, job-history and stop. Every view is the caller's tenant's: another tenant's job id
    /// answers like an unknown one.
    func registerJobRoutes(on router: RouteTable) {
        router.get("/v1/generation/query-job") { request, context in try await queryJob(request, context: context) }
        router.get("/v1/generation/job-queue") { _, context in try await jobQueue(context: context) }
        router.get("/v1/generation/job-history") { request, context in try await jobHistory(request, context: context) }
        router.post("/v1/generation/stop") { _, context in
            let stopped = try await jobs.stop(tenant: context.tenant)
            if !stopped.isEmpty { context.logger.info("stopped", metadata: ["request_ids": "\(stopped)", "surface": "fooocus-api"]) }
            return Response.json(.object(["msg": .string("success")]))
        }
    }

    /// `GET /v1/generation/query-job?job_id=…[&require_step_preview=…]`: the job as an `AsyncJobResponse`, for any
    /// request of a fooocus function (whichever surface submitted it); 404 with Fooocus-API's body otherwise.
    func queryJob(_ request: Request, context: GantryRequestContext) async throws -> Response {
        guard let id = request.uri.queryParameters.get("job_id"), !id.isEmpty else {
            throw APIError.field(["query", "job_id"], "Field required", type: "missing")
        }
        // Step previews need a sampler; `job_step_preview` is always null, but the flag is still checked.
        _ = try Self.queryBool(request, "require_step_preview")
        guard let record = try await jobs.queue.get(id: id, tenant: context.tenant),
              FooocusAPITranslation.functionIDs.contains(record.functionID) else {
            return .json(FooocusAPIResponses.notFound, status: .notFound)
        }
        return .json(try await responses.job(record), headers: [.falRequestID: record.id])
    }

    /// `GET /v1/generation/job-queue`: `{running_size (queued + running), finished_size, last_job_id}` over the
    /// jobs this process accepted from the tenant through Fooocus-API.
    func jobQueue(context: GantryRequestContext) async throws -> Response {
        let accepted = jobs.index.jobs(tenant: context.tenant)
        var running = 0
        var finished = 0
        for job in accepted {
            guard let record = try await jobs.queue.get(id: job.id, tenant: context.tenant) else { continue }
            if record.state.isTerminal { finished += 1 } else { running += 1 }
        }
        return .json(.object(["running_size": .number(Double(running)), "finished_size": .number(Double(finished)),
                              "last_job_id": accepted.last.map { .string($0.id) } ?? .null]))
    }

    /// `GET /v1/generation/job-history[?job_id=…]`: `{"queue": [waiting and running], "history": [finished, in
    /// finishing order]}`, as Fooocus-API without `--persistent` answers (so `page`/`page_size` are checked, not
    /// applied). `delete=true` is refused: finished requests are pruned after the retention period.
    func jobHistory(_ request: Request, context: GantryRequestContext) async throws -> Response {
        let filter = request.uri.queryParameters.get("job_id").flatMap { $0.isEmpty ? nil : $0 }
        _ = try Self.queryInt(request, "page", minimum: 0)
        _ = try Self.queryInt(request, "page_size", minimum: 1)
        if try Self.queryBool(request, "delete") == true {
            throw APIError.field(["query", "delete"],
                                 "deleting history is not supported here; finished requests are pruned after the retention period",
                                 type: "value_error")
        }
        var waiting: [RequestRecord] = []
        var finished: [RequestRecord] = []
        for job in jobs.index.jobs(tenant: context.tenant) where filter == nil || job.id == filter {
            guard let record = try await jobs.queue.get(id: job.id, tenant: context.tenant) else { continue }
            if record.state.isTerminal { finished.append(record) } else { waiting.append(record) }
        }
        finished.sort { ($0.finishedAt ?? .distantPast) < ($1.finishedAt ?? .distantPast) }
        return .json(.object(["queue": .array(waiting.map(FooocusAPIResponses.history)),
                              "history": .array(finished.map(FooocusAPIResponses.history))]))
    }

    /// A boolean query parameter (`true`/`false`/`1`/`0`…); nil when absent.
    static func queryBool(_ request: Request, _ name: String) throws -> Bool? {
        guard let raw = request.uri.queryParameters.get(name), !raw.isEmpty else { return nil }
        switch raw.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw APIError.field(["query", name], "Input should be a valid boolean", type: "bool_parsing")
        }
    }

    /// An integer query parameter at least `minimum`; nil when absent.
    static func queryInt(_ request: Request, _ name: String, minimum: Int) throws -> Int? {
        guard let raw = request.uri.queryParameters.get(name), !raw.isEmpty else { return nil }
        guard let value = Int(raw), value >= minimum else {
            throw APIError.field(["query", name], "Input should be an integer of at least \(minimum)", type: "int_parsing")
        }
        return value
    }
}
