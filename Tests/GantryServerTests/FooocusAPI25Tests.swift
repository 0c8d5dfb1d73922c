import Foundation
import GantryCore
@testable import GantryServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Imaging
import Testing

extension TestClientProtocol {
    /// Polls `GET /tasks/{id}` until `task_status` is one of `statuses`.
    func waitForTask(_ id: String, _ statuses: Set<String>, headers: HTTPFields = [:]) async throws -> Reply {
        var last: Reply?
        let reached = try await eventually {
            last = try await send(.get, "/tasks/\(id)", headers: headers)
            return last?.json["task_status"]?.stringValue.map(statuses.contains) ?? false
        }
        try #require(reached, "task stayed \(last?.text ?? "unknown"), expected \(statuses)")
        return try #require(last)
    }
}

/// FooocusAPI 2.5's routes against the router: generate in each response mode, /tasks, control, errors.
/// Serialized: every test runs the CPU engine, and the other live suites run beside these on the same cores.
@Suite("FooocusAPI 2.5 surface (router)", .serialized)
struct FooocusAPI25Tests {
    static let alice: HTTPFields = [HTTPField.Name("x-api-key")!: "alice:s1"]
    static let bob: HTTPFields = [HTTPField.Name("x-api-key")!: "bob:s2"]
    static let recordKeys: Set<String> = ["id", "task_id", "req_params", "in_queue_mills", "start_mills", "finish_mills", "task_status",
                                          "progress", "webhook_url", "result"]

    /// A short inpaint in 2.5's spelling (strength 0.5 skips the fill).
    static func inpaint(_ inputs: InpaintInputs, _ extra: [String: Any] = [:]) throws -> String {
        try jsonText(["inpaint_input_image": inputs.image.base64EncodedString(), "inpaint_mask_image_upload": inputs.mask.base64EncodedString(),
                      "inpaint_strength": 0.5, "image_seed": 5].merging(extra) { $1 })
    }

    /// Sync: the finished record (FooocusAPI's database row), with and without the trailing slash; the task id is the
    /// fal request id, so the fal status and result routes see the same request.
    @Test func syncRecordVisibleThroughFal() async throws {
        let inputs = try InpaintInputs()
        try await withHost { host in
            try await host.application.test(.router) { client in
                let reply = try await client.send(.post, "/v1/engine/generate/", json: try Self.inpaint(inputs, ["image_number": 2]))
                #expect(reply.status == .ok, "\(reply.text)")
                let record = reply.json
                #expect(Set(record.objectValue?.keys.map { $0 } ?? []) == Self.recordKeys)
                let id = try #require(record["task_id"]?.stringValue)
                #expect(reply.header("x-fal-request-id") == id && record["id"] == .number(1))
                #expect(record["task_status"] == .string("finished") && record["progress"] == .number(100) && record["webhook_url"] == .string(""))
                #expect(record["req_params"]?["inpaint_input_image"]?.stringValue?.hasPrefix("<inline image") == true)
                #expect(record["req_params"]?["image_number"] == .number(2))
                let urls = record["result"]?.arrayValue?.compactMap { $0.stringValue } ?? []
                #expect(urls.count == 2)
                let inQueue = try #require(record["in_queue_mills"]?.doubleValue)
                let start = try #require(record["start_mills"]?.doubleValue)
                let finish = try #require(record["finish_mills"]?.doubleValue)
                #expect(inQueue > 0 && inQueue <= start && start <= finish)
                let image = try await client.send(.get, try #require(pathOf(urls[0])))
                #expect(try ImageCodec.decode(image.bytes).width == 32)
                let status = try await client.send(.get, "/queue/fal-ai/fooocus/inpaint/requests/\(id)/status")
                #expect(status.json["status"] == .string("COMPLETED"))
                let result = try await client.send(.get, "/queue/fal-ai/fooocus/requests/\(id)")
                #expect(result.json["images"]?.arrayValue?.compactMap { $0["url"]?.stringValue } == urls && result.json["seed"] == .number(5))
                #expect(try await client.send(.get, "/tasks/\(id)").json == record)

                let slashless = try await client.send(.post, "/v1/engine/generate", json: try Self.inpaint(inputs))
                #expect(slashless.status == .ok && slashless.json["id"] == .number(2) && slashless.json["task_status"] == .string("finished"))
            }
        }
    }

    /// async_process: FooocusAPI's placeholder at once, then /tasks/{id} and /tasks; another tenant sees nothing;
    /// a fal submit is a task too (no record number, no req_params).
    @Test func asyncThenTasks() async throws {
        let inputs = try InpaintInputs()
        try await withHost(HostOptions(apiKeys: ["alice:s1", "bob:s2"])) { host in
            try await host.application.test(.router) { client in
                let reply = try await client.send(.post, "/v1/engine/generate/", json: try Self.inpaint(inputs, ["async_process": true]),
                                                  headers: Self.alice)
                let id = try #require(reply.json["task_id"]?.stringValue)
                #expect(reply.json == FooocusAPI25Records.pending(taskID: id))
                #expect(reply.json["preview"] == .string("") && reply.json["progress"] == .number(-1) && reply.json["id"] == .number(-1))
                let done = try await client.waitForTask(id, ["finished", "failed"], headers: Self.alice)
                #expect(done.json["task_status"] == .string("finished") && done.json["result"]?.arrayValue?.count == 1)
                let tasks = try await client.send(.get, "/tasks", headers: Self.alice)
                #expect(tasks.json["history"]?.arrayValue?.map { $0["task_id"] } == [.string(id)])
                #expect(tasks.json["current"] == .array([]) && tasks.json["pending"] == .array([]))
                let onlyPending = try await client.send(.get, "/tasks?query=pending", headers: Self.alice)
                #expect(onlyPending.json == .object(["history": .array([]), "current": .array([]), "pending": .array([])]))
                #expect(try await client.send(.get, "/tasks?page=1", headers: Self.alice).json["history"] == .array([]))
                #expect(try await client.send(.get, "/tasks?start_at=2000-01-01T00:00:00", headers: Self.alice).json["history"]?.arrayValue?.count == 1)
                #expect(try await client.send(.get, "/tasks?query=other", headers: Self.alice).status == .unprocessableContent)
                #expect(try await client.send(.get, "/tasks?action=delete", headers: Self.alice).status == .unprocessableContent)

                #expect(try await client.send(.get, "/tasks/\(id)", headers: Self.bob).json == .array([]))
                #expect(try await client.send(.get, "/tasks", headers: Self.bob).json["history"] == .array([]))

                let fal = try await client.submit("fal-ai/fooocus/inpaint", try jsonText([
                    "inpaint_image_url": "data:image/png;base64,\(inputs.image.base64EncodedString())", "outpaint_selections": ["Left"],
                    "inpaint_mode": "Improve Detail (face, hand, eyes, etc.)"]), headers: Self.alice)
                let falID = try #require(fal["request_id"]?.stringValue)
                let falTask = try await client.waitForTask(falID, ["finished"], headers: Self.alice)
                #expect(falTask.json["id"] == .number(-1) && falTask.json["req_params"] == .object([:]))
            }
        }
    }

    /// The response modes in FooocusAPI's order: `Accept: image/*` (even with async_process) answers the first image
    /// in that format, one image only; `*/*` and lists do not; stream_output answers server-sent events.
    @Test func acceptAndStreamModes() async throws {
        let inputs = try InpaintInputs()
        try await withHost { host in
            try await host.application.test(.router) { client in
                for (accept, format) in [("image/png", ImageFormat.png), ("image/jpg", .jpeg), ("image/webp", .webp), ("image/*", .png)] {
                    let reply = try await client.send(.post, "/v1/engine/generate/", json: try Self.inpaint(inputs, ["image_number": 3, "async_process": true]),
                                                      headers: [.accept: accept])
                    #expect(reply.status == .ok && reply.header("content-type") == format.contentType, "\(accept): \(reply.text.prefix(200))")
                    #expect(ImageCodec.sniff(reply.bytes) == format)
                    let id = try #require(reply.header("x-fal-request-id"))
                    #expect(try await client.send(.get, "/queue/fal-ai/fooocus/requests/\(id)").json["images"]?.arrayValue?.count == 1)
                }
                let plain = try await client.send(.post, "/v1/engine/generate/", json: try Self.inpaint(inputs), headers: [.accept: "*/*"])
                #expect(plain.header("content-type") == "application/json" && plain.json["task_status"] == .string("finished"))
                let list = try await client.send(.post, "/v1/engine/generate/", json: try Self.inpaint(inputs, ["async_process": true]),
                                                 headers: [.accept: "image/png, application/json"])
                #expect(list.json["task_status"] == .string("pending"))

                let stream = try await client.send(.post, "/v1/engine/generate/", json: try Self.inpaint(inputs, ["stream_output": true, "async_process": true]))
                #expect(stream.status == .ok && stream.header("content-type") == "text/event-stream")
                let events = stream.text.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: ") }
                    .compactMap { try? JSONValue.parse(Data($0.dropFirst(6).utf8)) }
                #expect(!events.isEmpty && events.allSatisfy { Set($0.objectValue?.keys.map { $0 } ?? []) == ["progress", "preview", "message", "images"] })
                let last = try #require(events.last)
                #expect(last["progress"] == .number(100) && last["message"] == .string("Finished") && last["preview"] == .null)
                let url = try #require(last["images"]?.arrayValue?.first?.stringValue)
                let id = try #require(stream.header("x-fal-request-id"))
                #expect(try await client.send(.get, "/tasks/\(id)").json["result"] == .array([.string(url)]))
                #expect(events.dropLast().allSatisfy { $0["images"] == .array([]) })
            }
        }
    }

    /// The Gantry extensions through 2.5's fields: `outpaint_distance` [left, …] sets the canvas (left 64 on 32×32 →
    /// 96×32) and `Upscale (Custom)` by `upscale_multiple` 5 scales by 5 (200×200 → 1000×1000).
    @Test func outpaintDistanceAndCustomUpscale() async throws {
        let inputs = try InpaintInputs()
        try await withHost { host in
            try await host.application.test(.router) { client in
                let outpaint = try await client.send(.post, "/v1/engine/generate/", json: try jsonText([
                    "inpaint_input_image": inputs.image.base64EncodedString(), "outpaint_selections": ["Left"],
                    "outpaint_distance": [64, 0, 0, 0], "inpaint_strength": 0.5]), headers: [.accept: "image/png"])
                #expect(outpaint.status == .ok, "\(outpaint.text.prefix(300))")
                let canvas = try ImageCodec.decode(outpaint.bytes)
                #expect(canvas.width == 96 && canvas.height == 32)

                let large = try ImageCodec.encode(Image(width: 200, height: 200, channels: 3, fill: 120), as: .png)
                let upscale = try await client.send(.post, "/v1/engine/generate/", json: try jsonText([
                    "uov_input_image": large.base64EncodedString(), "uov_method": "Upscale (Custom)", "upscale_multiple": 5]),
                                                    headers: [.accept: "image/png"])
                #expect(upscale.status == .ok, "\(upscale.text.prefix(300))")
                let scaled = try ImageCodec.decode(upscale.bytes)
                #expect(scaled.width == 1000 && scaled.height == 1000)
            }
        }
    }

    /// Control: `stop` and `skip` end the caller's running task only (a sync waiter gets the record with that
    /// status); nothing running → "No task running"; an unknown action → "Invalid control action".
    @Test func controlStopAndSkip() async throws {
        let listener = try HangingListener()
        let inputs = try InpaintInputs()
        try await withHost(HostOptions(apiKeys: ["alice:s1", "bob:s2"], allowEgress: ["127.0.0.1/32"])) { host in
            try await host.application.test(.router) { client in
                func control(_ action: String, _ headers: HTTPFields) async throws -> JSONValue {
                    try await client.send(.post, "/v1/engine/control?action=\(action)", headers: headers).json
                }
                #expect(try await control("stop", Self.alice) == .object(["message": .string("No task running")]))
                #expect(try await control("pause", Self.alice) == .object(["message": .string("Invalid control action")]))
                #expect(try await client.send(.post, "/v1/engine/control", headers: Self.alice).status == .unprocessableContent)

                let hanging = try jsonText(["inpaint_input_image": listener.url, "outpaint_selections": ["Left"]])
                async let held = client.send(.post, "/v1/engine/generate/", json: hanging, headers: Self.alice)
                try #require(await eventually { try await !runningIDs(host).isEmpty })
                let running = try #require(try await runningIDs(host).first)
                let live = try await client.waitForTask(running, ["running"], headers: Self.alice)
                #expect(live.json["preview"] == .null && live.json.objectValue?.keys.contains("preview") == true)
                #expect(try await client.send(.get, "/tasks", headers: Self.alice).json["current"]?.arrayValue?.first?["task_id"] == .string(running))
                let queued = try await client.send(.post, "/v1/engine/generate/", json: try Self.inpaint(inputs, ["async_process": true]), headers: Self.alice)
                let queuedID = try #require(queued.json["task_id"]?.stringValue)
                #expect(try await client.send(.get, "/tasks/\(queuedID)", headers: Self.alice).json["task_status"] == .string("pending"))

                #expect(try await control("stop", Self.bob) == .object(["message": .string("No task running")]))
                #expect(try await control("stop", Self.alice) == .object(["message": .string("task stoped")]))
                let reply = try await held
                #expect(reply.status == .ok && reply.json["task_status"] == .string("stop") && reply.json["result"] == .array([]), "\(reply.text)")
                #expect(try await host.store.requestGet(id: queuedID)?.cancelRequested == false)
                let finished = try await client.waitForTask(queuedID, ["finished"], headers: Self.alice)
                #expect(finished.json["result"]?.arrayValue?.count == 1)  // the queued task was untouched

                let skipped = try await client.send(.post, "/v1/engine/generate/", json: try jsonText([
                    "inpaint_input_image": listener.url, "outpaint_selections": ["Left"], "async_process": true]), headers: Self.alice)
                let skippedID = try #require(skipped.json["task_id"]?.stringValue)
                _ = try await client.waitForTask(skippedID, ["running"], headers: Self.alice)
                #expect(try await control("skip", Self.alice) == .object(["message": .string("task skiped")]))
                let done = try await client.waitForTask(skippedID, ["skip", "stop"], headers: Self.alice)
                #expect(done.json["task_status"] == .string("skip") && done.json["progress"] == .number(100))
            }
        }
    }

    /// Errors are the envelope: 422s naming 2.5's fields (at parse, at submit, and from the function at run time),
    /// 429 QUEUE_IS_FULL past the shared bound; the webhook goes through the outbox in Fooocus-API's shape.
    @Test func errorsQueueBoundAndWebhook() async throws {
        let listener = try HangingListener()
        let inputs = try InpaintInputs()
        var options = HostOptions(allowEgress: ["127.0.0.1/32"])
        options.configure = { $0.fooocusQueueSize = 1 }
        try await withHost(options) { host in
            try await host.application.test(.router) { client in
                func loc(_ reply: Reply) -> [String] { reply.json["detail"]?.arrayValue?.first?["loc"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
                let t2i = try await client.send(.post, "/v1/engine/generate/", json: #"{"prompt": "a cat"}"#)
                #expect(t2i.status == .unprocessableContent && t2i.json["error_type"] == .string("capability_unavailable") && loc(t2i) == ["body", "prompt"])
                let noMask = try await client.send(.post, "/v1/engine/generate/", json: try jsonText(["inpaint_input_image": inputs.image.base64EncodedString()]))
                #expect(noMask.status == .unprocessableContent && loc(noMask) == ["body", "inpaint_mask_image_upload"], "\(noMask.text)")
                let far = try await client.send(.post, "/v1/engine/generate/", json: try Self.inpaint(inputs, [
                    "outpaint_selections": ["Left"], "outpaint_distance": [3000, 0, 0, 0]]))
                #expect(far.status == .unprocessableContent && loc(far) == ["body", "outpaint_distance", "0"], "\(far.text)")
                let disabled = try await client.send(.post, "/v1/engine/generate/", json: try jsonText(["uov_input_image": inputs.image.base64EncodedString()]))
                #expect(disabled.status == .unprocessableContent && loc(disabled) == ["body", "uov_method"])
                let small = try ImageCodec.encode(Image(width: 16, height: 16, channels: 3, fill: 255), as: .png)
                let mismatch = try await client.send(.post, "/v1/engine/generate/", json: try Self.inpaint(inputs, [
                    "inpaint_mask_image_upload": small.base64EncodedString()]))
                #expect(mismatch.status == .unprocessableContent && loc(mismatch) == ["body", "inpaint_mask_image_upload"], "\(mismatch.text)")
                let hook = try await client.send(.post, "/v1/engine/generate/", json: try Self.inpaint(inputs, ["webhook_url": "http://169.254.169.254/x"]))
                #expect(hook.status == .unprocessableContent && loc(hook) == ["body", "webhook_url"])
                #expect(try await client.send(.post, "/v1/engine/generate/", json: "[1]").status == .unprocessableContent)

                let hanging = try await client.send(.post, "/v1/engine/generate/", json: try jsonText([
                    "inpaint_input_image": listener.url, "outpaint_selections": ["Left"], "async_process": true,
                    "webhook_url": "http://127.0.0.1:9/hook"]))
                let id = try #require(hanging.json["task_id"]?.stringValue)
                let delivery = try await host.store.webhookGet(requestID: id)
                #expect(delivery?.url == "http://127.0.0.1:9/hook" && delivery?.format == .fooocus)
                #expect(try await client.send(.get, "/tasks/\(id)").json["webhook_url"] == .string("http://127.0.0.1:9/hook"))
                let full = try await client.send(.post, "/v1/engine/generate/", json: try Self.inpaint(inputs, ["async_process": true]))
                #expect(full.status == .tooManyRequests && full.json["error_type"] == .string("QUEUE_IS_FULL"))
                _ = try await client.send(.put, "/queue/fal-ai/fooocus/requests/\(id)/cancel")
                #expect(try await client.waitForTask(id, ["stop"]).json["result"] == .array([]))
            }
        }
    }
}
