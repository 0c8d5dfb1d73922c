import Foundation
import GantryCore
import HTTPTypes
import Hummingbird

/// `POST /v1/tools/generate_mask` (Fooocus-API and FooocusAPI 2.5 share it, docs/fooocus.md §2.5): the JSON
/// `GenerateMaskRequest` becomes one run of `gantry/fooocus/generate-mask`, right away and without a job, as the
/// reference runs its tools inline. The answer is the reference's: a JSON string holding the base64 of a PNG, no
/// `data:` prefix. `x-gantry-mask-method` says how the mask was made (`model`, or `grabcut-centred-box` when
/// isnet-general-use is answered on the CPU).
extension FooocusAPISurface {
    static let generateMaskFunction = "gantry/fooocus/generate-mask"
    static let maskMethodHeader = HTTPField.Name("x-gantry-mask-method")!

    /// The tool routes: `/v1/tools/generate_mask` and `/v1/tools/describe-image`.
    func registerTools(on router: RouteTable) {
        router.post("/v1/tools/generate_mask") { request, context in try await generateMask(request, context: context) }
        router.post("/v1/tools/describe-image") { request, context in try await describeImage(request, context: context) }
    }

    func generateMask(_ request: Request, context: GantryRequestContext) async throws -> Response {
        let call = try Self.generateMaskCall(try await fields(request, spelling: .v2JSON))
        let output = try await runTool(call, context: context)
        guard let url = output["image"]?["url"]?.stringValue, url.hasPrefix("data:"), let comma = url.firstIndex(of: ",") else {
            throw APIError(.internalServerError, "no_result", "The mask function returned no inline image")
        }
        let method = output["method"]?.stringValue ?? "model"
        if method != "model" {
            context.logger.notice("generate_mask: isnet-general-use answered by GrabCut from a centred box (no isnet model on this host)",
                                  metadata: ["method": "\(method)"])
        }
        return .json(.string(String(url[url.index(after: comma)...])), headers: [Self.maskMethodHeader: method])
    }

    /// The function call for a `GenerateMaskRequest`: every field checked with FooocusAPI's types and ranges (a 422
    /// naming it otherwise), the image as a data URI or URL in `image_url`.
    static func generateMaskCall(_ fields: FooocusAPIFields) throws -> FalCall {
        var call = FalCall(functionID: generateMaskFunction)
        guard let image = try fields.image("image") else {
            throw fields.error("image", "Field required: the image to mask (an http(s) URL, a data URI or base64)", type: "missing")
        }
        call.set("image_url", .string(image), from: ["image"])
        let models = ["u2net", "u2netp", "u2net_human_seg", "u2net_cloth_seg", "silueta", "isnet-general-use", "isnet-anime", "sam"]
        if let model = try fields.oneOf("mask_model", models) { call.set("mask_model", .string(model), from: ["mask_model"]) }
        for name in ["cloth_category", "dino_prompt_text", "sam_model"] {
            if let text = try fields.string(name) { call.set(name, .string(text), from: [name]) }
        }
        for name in ["box_threshold", "text_threshold"] {
            if let value = try fields.double(name, in: 0...1) { call.set(name, .number(value), from: [name]) }
        }
        if let count = try fields.int("sam_max_detections", in: 0...10) {
            call.set("sam_max_detections", .number(Double(count)), from: ["sam_max_detections"])
        }
        if let pixels = try fields.double("dino_erode_or_dilate", in: -64...64) {
            call.set("dino_erode_or_dilate", .number(pixels), from: ["dino_erode_or_dilate"])
        }
        if let debug = try fields.bool("dino_debug") { call.set("dino_debug", .bool(debug), from: ["dino_debug"]) }
        call.set("sync_mode", .bool(true), from: ["sync_mode"])
        return call
    }

    /// Runs a tool's function at once under its concurrency limit (no job, as Fooocus-API runs tools inline): the
    /// schema and the submit-time check first, every error renamed to the request's own fields.
    func runTool(_ call: FalCall, context: GantryRequestContext) async throws -> JSONValue {
        let answer = await jobs.queue.run(try jobs.prepare(call), tenant: context.tenant)
        switch answer.completion {
        case .succeeded(let body):
            guard let output = try? JSONValue.parse(body) else {
                throw APIError(.internalServerError, "invalid_output", "The function's output is not JSON", headers: [.falRequestID: answer.requestID])
            }
            return output
        case .failed, .cancelled:
            throw APIError(call.mapped(answer.completion.error!), requestID: answer.requestID)
        }
    }
}
