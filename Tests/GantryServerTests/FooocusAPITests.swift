import Foundation
import GantryCore
@testable import GantryServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Imaging
import Testing

extension TestClientProtocol {
    /// Posts a multipart form.
    func post(_ uri: String, form: FormBody, headers: HTTPFields = [:]) async throws -> Reply {
        var fields = headers
        fields[.contentType] = form.contentType
        return Reply(response: try await executeRequest(uri: uri, method: .post, headers: fields, body: ByteBuffer(data: form.data)))
    }

    /// Polls query-job until `job_stage` is one of `stages`.
    func waitForJob(_ id: String, _ stages: Set<String>, headers: HTTPFields = [:]) async throws -> Reply {
        var last: Reply?
        let reached = try await eventually {
            last = try await send(.get, "/v1/generation/query-job?job_id=\(id)", headers: headers)
            return last?.json["job_stage"]?.stringValue.map(stages.contains) ?? false
        }
        try #require(reached, "query-job stayed \(last?.text ?? "unknown"), expected \(stages)")
        return try #require(last)
    }
}

/// A JSON body from string-keyed values.
func jsonText(_ object: [String: Any]) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
}

/// Inputs of a short inpaint: a 32×32 gradient and a mask with a white square; strength 0.5 skips the fill, which
/// keeps debug-build runs short.
struct InpaintInputs {
    let image: Data
    let mask: Data

    init() throws {
        image = try testPNG()
        var mask = Image(width: 32, height: 32, channels: 3, fill: 0)
        for y in 10..<20 { for x in 10..<20 { for c in 0..<3 { mask.pixels[(y * 32 + x) * 3 + c] = 255 } } }
        self.mask = try ImageCodec.encode(mask, as: .png)
    }

    /// A v2 inpaint body with base64 inputs.
    func v2(_ extra: [String: Any] = [:]) throws -> String {
        try jsonText(["input_image": image.base64EncodedString(), "input_mask": mask.base64EncodedString(), "image_seed": 5,
                      "advanced_params": ["inpaint_strength": 0.5]].merging(extra) { $1 })
    }

    /// A v1 inpaint form.
    func v1(_ extra: [FormBody.Field] = [], mask withMask: Bool = true) -> FormBody {
        var fields: [FormBody.Field] = [.file("input_image", fileName: "image.png", contentType: "image/png", image),
                                        .text("advanced_params", #"{"inpaint_strength": 0.5}"#), .text("image_seed", "11")]
        if withMask { fields.append(.file("input_mask", fileName: "mask.png", contentType: "image/png", mask)) }
        return FormBody(fields: fields + extra)
    }
}

/// Serialized: every test runs the CPU engine, and the other live suites run beside these on the same cores.
@Suite("Fooocus-API surface (router)", .serialized)
struct FooocusAPITests {
    @Test func pingStylesAndModels() async throws {
        try await withHost(HostOptions(apiKeys: ["alice:s1"])) { host in
            try await host.application.test(.router) { client in
                let ping = try await client.send(.get, "/ping")  // public, like /health
                #expect(ping.status == .ok && ping.text == #""pong""#)
                let key: HTTPFields = [HTTPField.Name("x-api-key")!: "alice:s1"]
                let styles = try await client.send(.get, "/v1/engines/styles", headers: key)
                let names = styles.json.arrayValue?.compactMap(\.stringValue) ?? []
                #expect(names.count == 279 && names.prefix(3) == ["Fooocus V2", "Random Style", "Fooocus Enhance"])
                #expect(names.last == "Mk Shepard Fairey Style")
                let models = try await client.send(.get, "/v1/engines/all-models", headers: key)
                #expect(models.json["model_filenames"] == .array([.string("realisticVisionV60B1_v51VAE.safetensors")]))
                #expect(models.json["lora_filenames"] == .array([.string("sd_xl_offset_example-lora_1.0.safetensors")]))
            }
        }
    }

    /// `X-API-KEY` authenticates like `Authorization: Key`; a missing or wrong key is the 401 envelope.
    @Test func apiKeyHeader() async throws {
        try await withHost(HostOptions(apiKeys: ["alice:s1"])) { host in
            try await host.application.test(.router) { client in
                let missing = try await client.send(.get, "/v1/engines/styles")
                #expect(missing.status == .unauthorized && missing.json["error_type"] == .string("unauthorized"))
                let wrong = try await client.send(.get, "/v1/generation/job-queue", headers: [HTTPField.Name("x-api-key")!: "alice:nope"])
                #expect(wrong.status == .unauthorized && wrong.json["detail"]?.stringValue?.contains("X-API-KEY") == true)
                #expect(try await client.send(.get, "/v1/generation/job-queue", headers: [.authorization: "Key alice:s1"]).status == .ok)
                // The same key on fal's surface, through Fooocus-API's header.
                #expect(try await client.send(.get, "/queue/gantry/echo/requests/x/status",
                                              headers: [HTTPField.Name("x-api-key")!: "alice:s1"]).status == .notFound)
            }
        }
    }

    /// v1 multipart inpaint, synchronous: one `{base64, url, seed, finish_reason}` per image, seed as a string,
    /// base64 a data URI of the stored file. `/files` then converts on an exact image `Accept`; no Accept, `*/*`, a
    /// list or another type serve the stored bytes.
    @Test func v1FormInpaintSyncAndFileConversion() async throws {
        let inputs = try InpaintInputs()
        try await withHost { host in
            try await host.application.test(.router) { client in
                let reply = try await client.post("/v1/generation/image-inpaint-outpaint", form: inputs.v1([.text("require_base64", "true")]))
                #expect(reply.status == .ok, "\(reply.text)")
                let item = try #require(reply.json.arrayValue?.first)
                #expect(reply.json.arrayValue?.count == 1 && item["seed"] == .string("11") && item["finish_reason"] == .string("SUCCESS"))
                #expect(reply.header("x-fal-request-id") != nil)
                let path = try #require(item["url"]?.stringValue.flatMap(pathOf))
                let plain = try await client.send(.get, path)
                #expect(plain.status == .ok && plain.header("content-type") == "image/png" && plain.header("vary") == "Accept")
                #expect(item["base64"] == .string("data:image/png;base64,\(plain.bytes.base64EncodedString())"))
                #expect(try ImageCodec.decode(plain.bytes).width == 32)
                for accept in ["*/*", "image/png, image/jpeg", "text/html", "image/png"] {
                    let same = try await client.send(.get, path, headers: [.accept: accept])
                    #expect(same.bytes == plain.bytes && same.header("etag") == plain.header("etag"))
                }
                let jpg = try await client.send(.get, path, headers: [.accept: "image/jpg"])
                #expect(jpg.status == .ok && jpg.header("content-type") == "image/jpeg" && ImageCodec.sniff(jpg.bytes) == .jpeg)
                #expect(jpg.header("etag") != plain.header("etag") && jpg.header("content-length") == String(jpg.bytes.count))
                let webp = try await client.send(.get, path, headers: [.accept: "image/webp"])
                #expect(webp.header("content-type") == "image/webp" && ImageCodec.sniff(webp.bytes) == .webp)
                let cached = try await client.send(.get, path, headers: [.accept: "image/jpeg", .ifNoneMatch: jpg.header("etag") ?? ""])
                #expect(cached.status == .notModified)
            }
        }
    }

    /// v2 JSON, async: the job answers WAITING at once; query-job reaches SUCCESS with the result; the same id is
    /// the fal request of `fal-ai/fooocus/inpaint` (status and result routes).
    @Test func v2AsyncVisibleThroughBothSurfaces() async throws {
        let inputs = try InpaintInputs()
        try await withHost { host in
            try await host.application.test(.router) { client in
                let reply = try await client.send(.post, "/v2/generation/image-inpaint-outpaint",
                                                  json: try inputs.v2(["async_process": true, "save_extension": "webp"]))
                #expect(reply.status == .ok)
                let id = try #require(reply.json["job_id"]?.stringValue)
                #expect(reply.json == FooocusAPIResponses.job(id: id, kind: "Image Inpaint or Outpaint", stage: "WAITING"))
                let done = try await client.waitForJob(id, ["SUCCESS", "ERROR"])
                #expect(done.json["job_stage"] == .string("SUCCESS") && done.json["job_progress"] == .number(100))
                #expect(done.json["job_status"] == .string("Finished") && done.json["job_step_preview"] == .null)
                let item = try #require(done.json["job_result"]?.arrayValue?.first)
                #expect(item["seed"] == .string("5") && item["base64"] == .null && item["url"]?.stringValue?.hasSuffix(".webp") == true)
                let status = try await client.send(.get, "/queue/fal-ai/fooocus/inpaint/requests/\(id)/status")
                #expect(status.status == .ok && status.json["status"] == .string("COMPLETED"))
                let result = try await client.send(.get, "/queue/fal-ai/fooocus/requests/\(id)")
                #expect(result.json["images"]?.arrayValue?.first?["url"] == item["url"] && result.json["seed"] == .number(5))
            }
        }
    }

    /// The other way round: a fal submit is a Fooocus-API job too (RUNNING while it fetches an input that never
    /// arrives; a fal cancel reads as USER_CANCEL). A request of another function is unknown to Fooocus-API.
    @Test func falRequestThroughQueryJob() async throws {
        let listener = try HangingListener()
        try await withHost(HostOptions(allowEgress: ["127.0.0.1/32"])) { host in
            try await host.application.test(.router) { client in
                let body = try jsonText(["inpaint_image_url": listener.url, "outpaint_selections": ["Bottom"], "seed": 3])
                let submitted = try await client.submit("fal-ai/fooocus/inpaint", body)
                let id = try #require(submitted["request_id"]?.stringValue)
                let running = try await client.waitForJob(id, ["RUNNING"])
                #expect(running.json["job_type"] == .string("Image Inpaint or Outpaint") && running.json["job_id"] == .string(id))
                #expect(running.header("x-fal-request-id") == id && running.json["job_result"] == .null)
                #expect(try await client.send(.put, "/queue/fal-ai/fooocus/requests/\(id)/cancel").status == .accepted)
                let cancelled = try await client.waitForJob(id, ["ERROR", "SUCCESS"])
                #expect(cancelled.json["job_result"] == .array([FooocusAPIResponses.item(reason: "USER_CANCEL")]))
                let echo = try await client.submit("gantry/echo", "{}")
                let unknown = try await client.send(.get, "/v1/generation/query-job?job_id=\(echo["request_id"]!.stringValue!)")
                #expect(unknown.status == .notFound && unknown.json == FooocusAPIResponses.notFound)
                #expect(unknown.json["job_type"] == .string("Not Found") && unknown.json["job_status"] == .string("Job not found"))
            }
        }
    }

    /// `Accept: image/png` answers the first image as PNG bytes (one image, re-encoded from the saved format);
    /// `async_process` wins over it. (The Python tier covers `?accept=`.)
    @Test func acceptImagePngStreams() async throws {
        let inputs = try InpaintInputs()
        let listener = try HangingListener()
        try await withHost(HostOptions(allowEgress: ["127.0.0.1/32"])) { host in
            try await host.application.test(.router) { client in
                let header = try await client.send(.post, "/v2/generation/image-inpaint-outpaint",
                                                   json: try inputs.v2(["save_extension": "jpeg", "image_number": 3]), headers: [.accept: "image/png"])
                #expect(header.status == .ok && header.header("content-type") == "image/png")
                #expect(ImageCodec.sniff(header.bytes) == .png)
                #expect(try ImageCodec.decode(header.bytes).width == 32)
                let id = try #require(header.header("x-fal-request-id"))
                let images = try await client.send(.get, "/queue/fal-ai/fooocus/requests/\(id)").json["images"]?.arrayValue
                #expect(images?.count == 1 && images?.first?["content_type"] == .string("image/jpeg"))
                let asyncWins = try await client.send(.post, "/v2/generation/image-inpaint-outpaint?accept=image/png",
                                                      json: try jsonText(["input_image": listener.url, "outpaint_selections": ["Left"],
                                                                          "async_process": true]))
                let asyncID = try #require(asyncWins.json["job_id"]?.stringValue)
                #expect(asyncWins.json["job_stage"] == .string("WAITING"))
                _ = try await client.send(.put, "/queue/fal-ai/fooocus/requests/\(asyncID)/cancel")
            }
        }
    }

    /// Positive outpaint distances and custom upscale factors reach the functions' Gantry extensions: a v1 form's
    /// `outpaint_distance_left` 64 on a 32×32 image gives a 96×32 canvas; a v2 `Upscale (Custom)` by 3 is queued as
    /// the upscale function's `Upscale (Custom)` with `upscale_value` 3.
    @Test func distancesAndCustomFactorsCarryThrough() async throws {
        let inputs = try InpaintInputs()
        try await withHost { host in
            try await host.application.test(.router) { client in
                let outpaint = try await client.post("/v1/generation/image-inpaint-outpaint", form: FormBody(fields: [
                    .file("input_image", fileName: "image.png", contentType: "image/png", inputs.image), .text("outpaint_selections", "Left"),
                    .text("outpaint_distance_left", "64"), .text("outpaint_distance_right", "50"), .text("advanced_params", #"{"inpaint_strength": 0.5}"#)]))
                #expect(outpaint.status == .ok, "\(outpaint.text)")
                let path = try #require(outpaint.json.arrayValue?.first?["url"]?.stringValue.flatMap(pathOf))
                let canvas = try ImageCodec.decode(try await client.send(.get, path).bytes)
                #expect(canvas.width == 96 && canvas.height == 32)

                let upscale = try await client.send(.post, "/v2/generation/image-upscale-vary", json: try jsonText([
                    "input_image": inputs.image.base64EncodedString(), "uov_method": "Upscale (Custom)", "upscale_value": 3, "async_process": true]))
                let id = try #require(upscale.json["job_id"]?.stringValue)
                let stored = try JSONValue.parse(try #require(try await host.store.requestGet(id: id)).input)
                #expect(stored["uov_method"] == .string("Upscale (Custom)") && stored["upscale_value"] == .number(3))
                #expect(try await client.waitForJob(id, ["SUCCESS", "ERROR"]).json["job_stage"] == .string("SUCCESS"))
            }
        }
    }

    /// Input errors are 422s naming the Fooocus-API field, never 500s; the capability refusals of text-to-image and
    /// image prompts come through as 422 `capability_unavailable`.
    @Test func inputErrors() async throws {
        let inputs = try InpaintInputs()
        try await withHost { host in
            try await host.application.test(.router) { client in
                func loc(_ reply: Reply) -> [String] { reply.json["detail"]?.arrayValue?.first?["loc"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
                let t2i = try await client.send(.post, "/v1/generation/text-to-image", json: #"{"prompt": "a cat"}"#)
                #expect(t2i.status == .unprocessableContent && t2i.json["error_type"] == .string("capability_unavailable"))
                let ip = try await client.post("/v1/generation/image-prompt", form: FormBody(fields: [
                    .file("cn_img1", fileName: "c.png", contentType: "image/png", inputs.image), .text("cn_type1", "PyraCanny")]))
                #expect(ip.status == .unprocessableContent && loc(ip) == ["body", "cn_img1"], "\(ip.text)")
                let custom = try await client.post("/v1/generation/image-upscale-vary", form: FormBody(fields: [
                    .file("input_image", fileName: "i.png", contentType: "image/png", inputs.image), .text("uov_method", "Upscale (Custom)")]))
                #expect(custom.status == .unprocessableContent && loc(custom) == ["body", "upscale_value"])
                let scheme = try await client.post("/v1/generation/image-inpaint-outpaint", form: inputs.v1([.text("meta_scheme", "a111")]))
                #expect(scheme.status == .unprocessableContent && loc(scheme) == ["body", "meta_scheme"])
                let null = try await client.send(.post, "/v2/generation/image-inpaint-outpaint", json: try inputs.v2(["inpaint_additional_prompt": NSNull()]))
                #expect(null.status == .unprocessableContent && loc(null) == ["body", "inpaint_additional_prompt"])
                let many = try await client.send(.post, "/v2/generation/image-inpaint-outpaint", json: try inputs.v2(["image_number": 5]))
                #expect(many.status == .unprocessableContent && loc(many) == ["body", "image_number"], "\(many.text)")
                let json = try await client.send(.post, "/v1/generation/image-inpaint-outpaint", json: try inputs.v2())
                #expect(json.status == .unsupportedMediaType)
                let garbled = try await client.send(.post, "/v1/generation/image-inpaint-outpaint", json: "--x\r\n",
                                                    headers: [.contentType: "multipart/form-data; boundary=x"])
                #expect(garbled.status == .badRequest && garbled.json["error_type"] == .string("form_invalid"))
                let empty = try await client.post("/v1/generation/image-inpaint-outpaint", form: inputs.v1(mask: false))
                #expect(empty.status == .unprocessableContent && loc(empty) == ["body", "input_mask"], "\(empty.text)")
                let webhook = try await client.send(.post, "/v2/generation/image-inpaint-outpaint",
                                                    json: try inputs.v2(["webhook_url": "http://169.254.169.254/hook"]))
                #expect(webhook.status == .unprocessableContent && loc(webhook) == ["body", "webhook_url"])
                #expect(try await client.send(.get, "/v1/generation/query-job").status == .unprocessableContent)
            }
        }
    }
}
