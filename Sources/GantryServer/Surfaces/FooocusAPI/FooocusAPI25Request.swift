import Foundation
import GantryCore

/// FooocusAPI 2.5's `/v1/engine/generate/` request (mrhan1993/FooocusAPI, docs/fooocus.md §2.3): Fooocus-API's request
/// flattened (its `advanced_params` at the top level) plus Fooocus 2.5's image fields. It is read into the neutral
/// `FooocusAPIRequest`, so the same translation reaches the same fal functions; its 422s name 2.5's fields.
struct FooocusAPI25Request: Sendable {
    /// The neutral request; `kind` follows FooocusAPI's tab choice (image prompt → upscale/vary → inpaint).
    var request: FooocusAPIRequest
    /// `stream_output`: answer with server-sent progress events.
    var streamOutput = false
    /// Where the neutral `input_image` came from: `uov_input_image` or `inpaint_input_image`.
    var inputField = "inpaint_input_image"
    /// `req_params` of the task record: the body as sent, inline images abbreviated (see `summary`).
    var params: JSONValue = .object([:])

    static let outputFormats = ["png", "jpeg", "jpg", "webp"]
    static let processingOrders = ["Before First Enhancement", "After Last Enhancement"]
    static let promptTypes = ["Original Prompts", "Last Filled Enhancement Prompts"]
    /// Presets Gantry can honour: `initial` (FooocusAPI's default) and `default`, which `initial` already equals.
    static let presets: Set<String> = ["initial", "default"]

    /// Reads a body with FooocusAPI 2.5's defaults and constraints; every wrong value is a 422 naming the field.
    static func parse(_ f: FooocusAPIFields, styles: Set<String>) throws -> FooocusAPI25Request {
        var r = FooocusAPIRequest(kind: .textToImage)
        r.prompt = try f.string("prompt") ?? ""
        r.negativePrompt = try f.string("negative_prompt") ?? ""
        if let names = try f.list("style_selections") {
            for (index, name) in names.enumerated() where !styles.contains(name) {
                throw f.error("style_selections", "unknown style '\(name.prefix(100))'; GET /v1/engines/styles lists them",
                              type: "enum", below: [String(index)])
            }
            r.styles = names
        }
        r.performance = try f.oneOf("performance_selection", FooocusAPIRequest.performances) ?? r.performance
        if let text = try f.string("aspect_ratios_selection") {
            guard let size = FooocusAPIRequest.aspectRatio(text) else {
                throw f.error("aspect_ratios_selection", "Input should look like '1152*896' or '1152×896' (width first)")
            }
            r.aspectRatio = size
        }
        if let format = try f.oneOf("output_format", outputFormats) { r.outputFormat = format == "jpg" ? "jpeg" : format }
        try r.parseSampling(f)
        r.advanced = try FooocusAPIRequest.advanced(f, flat: true)
        r.asyncProcess = try f.bool("async_process") ?? false
        r.webhookURL = try f.string("webhook_url", nullable: true).flatMap { $0.isEmpty ? nil : $0 }
        try checkIgnored(f)

        var parsed = FooocusAPI25Request(request: r)
        parsed.streamOutput = try f.bool("stream_output") ?? false
        try parsed.readImages(f)
        if case .json(let object) = f.storage { parsed.params = summary(.object(object)) }
        return parsed
    }

    /// Fields FooocusAPI takes that no fal function uses: checked against its types, then ignored.
    private static func checkIgnored(_ f: FooocusAPIFields) throws {
        for name in ["read_wildcards_in_order", "input_image_checkbox", "save_final_enhanced_image_only", "save_metadata_to_images",
                     "generate_image_grid", "require_base64"] {
            _ = try f.bool(name)
        }
        _ = try f.string("current_tab")  // FooocusAPI chooses the tab itself (pre_worker)
        _ = try f.oneOf("metadata_scheme", ["fooocus", "a1111"])
        _ = try f.string("save_name", nullable: true)  // Gantry names its files itself
        _ = try f.oneOf("enhance_uov_method", FooocusAPIRequest.uovMethods)
        _ = try f.oneOf("enhance_uov_processing_order", processingOrders)
        _ = try f.oneOf("enhance_uov_prompt_type", promptTypes)
        if let value = try f.json("enhance_ctrls") {
            guard case .array(let items) = value else { throw f.error("enhance_ctrls", "Input should be a valid list", type: "list_type") }
            for (index, item) in items.enumerated() {
                guard case .object = item else { throw f.error("enhance_ctrls", "Input should be an object", type: "dict_type", below: [String(index)]) }
            }
        }
        if let preset = try f.string("preset"), !presets.contains(preset) {
            throw f.error("preset", "presets other than 'initial' are not available here (they change models); send the fields "
                              + "themselves", type: "value_error")
        }
        if try f.bool("enhance_checkbox") == true {
            throw f.error("enhance_checkbox", "Image Enhancement needs mask models (SAM, GroundingDINO) and a diffusion engine; "
                              + "this host has neither", type: "capability_unavailable")
        }
    }

    /// The image fields, and the tab FooocusAPI would run: an image prompt first (mixed with the upscale or inpaint
    /// image when its `mixing_…` flag says so), else upscale/vary, else inpaint/outpaint, else text-to-image.
    private mutating func readImages(_ f: FooocusAPIFields) throws {
        if try f.image("enhance_input_image") != nil {
            throw f.error("enhance_input_image", "Image Enhancement needs mask models (SAM, GroundingDINO) and a diffusion engine; "
                              + "this host has neither", type: "capability_unavailable")
        }
        let uovImage = try f.image("uov_input_image")
        let inpaintImage = try f.image("inpaint_input_image")
        let mask = try f.image("inpaint_mask_image_upload")
        let uovMethod = try f.oneOf("uov_method", FooocusAPIRequest.uovMethods) ?? "Disabled"
        let multiple = try f.double("upscale_multiple", in: 1...5) ?? 1
        var sides: [String] = []
        for (index, side) in (try f.list("outpaint_selections") ?? []).enumerated() {
            guard let known = FooocusAPIRequest.outpaintSides.first(where: { $0.lowercased() == side.lowercased() }) else {
                throw f.error("outpaint_selections", "Input should be 'Left', 'Right', 'Top' or 'Bottom', not '\(side.prefix(40))'",
                              type: "enum", below: [String(index)])
            }
            if !sides.contains(known) { sides.append(known) }
        }
        let distances = try Self.distances(f)
        let additional = try f.string("inpaint_additional_prompt") ?? ""
        request.imagePrompts = try Self.controlNets(f)

        let prompted = !request.activeImagePrompts.isEmpty
        let mixUov = try f.bool("mixing_image_prompt_and_vary_upscale") ?? false
        let mixInpaint = try f.bool("mixing_image_prompt_and_inpaint") ?? false
        if let uovImage, !prompted || mixUov {
            request.kind = .upscaleVary
            request.inputImage = uovImage
            inputField = "uov_input_image"
            request.uovMethod = uovMethod
            // `Upscale (Custom)` is FooocusAPI's "Upscale (<upscale_multiple>x)": the factor itself, 1 to 5.
            request.upscaleValue = uovMethod == "Upscale (Custom)" ? multiple : nil
        } else if let inpaintImage, !prompted || mixInpaint {
            request.kind = .inpaintOutpaint
            request.inputImage = inpaintImage
            request.inputMask = mask
            request.outpaintSelections = sides
            request.outpaintDistances = distances
            request.inpaintAdditionalPrompt = additional
        } else {
            request.kind = .textToImage
        }
    }

    /// `outpaint_distance`: `[left, top, right, bottom]` in pixels, ≤ 0 meaning Fooocus's 30 %.
    private static func distances(_ f: FooocusAPIFields) throws -> FooocusAPIRequest.Distances {
        guard let value = try f.json("outpaint_distance") else { return .init() }
        guard case .array(let items) = value, items.count == 4 else {
            throw f.error("outpaint_distance", "Input should be a list of 4 integers: [left, top, right, bottom]", type: "list_type")
        }
        let numbers = try items.enumerated().map { index, item -> Int in
            guard case .number(let number) = item, number.rounded() == number, abs(number) < 1e9 else {
                throw f.error("outpaint_distance", "Input should be a valid integer", type: "int_type", below: [String(index)])
            }
            return Int(number)
        }
        return .init(left: numbers[0], right: numbers[2], top: numbers[1], bottom: numbers[3])
    }

    /// `controlnet_image`: up to 4 `{cn_img, cn_stop = 0.6, cn_weight = 0.6, cn_type}` (a null stop or weight is
    /// the default too).
    private static func controlNets(_ f: FooocusAPIFields) throws -> [FooocusAPIRequest.ImagePrompt] {
        guard let value = try f.json("controlnet_image") else { return [] }
        guard case .array(let items) = value else { throw f.error("controlnet_image", "Input should be a valid list", type: "list_type") }
        guard items.count <= 4 else { throw f.error("controlnet_image", "At most 4 image prompts", type: "too_long") }
        return try items.enumerated().map { index, item in
            guard case .object(var object) = item else {
                throw f.error("controlnet_image", "Input should be an object", type: "dict_type", below: [String(index)])
            }
            for name in ["cn_stop", "cn_weight"] where object[name] == .null { object[name] = nil }
            let slot = f.nested(object, at: ["controlnet_image", String(index)])
            var prompt = FooocusAPIRequest.ImagePrompt(image: try slot.image("cn_img"), location: ["controlnet_image", String(index)])
            prompt.stop = try slot.double("cn_stop", in: 0...1) ?? 0.6
            prompt.weight = try slot.double("cn_weight", in: 0...2) ?? 0.6
            prompt.type = try slot.oneOf("cn_type", FooocusAPIRequest.controlNetTypes) ?? prompt.type
            return prompt
        }
    }

    /// `req_params` as kept in memory: inline images (data URIs, base64) become `<inline image: N characters>` and
    /// other long strings are cut to 4,096 characters, so a task record stays small.
    static func summary(_ value: JSONValue, key: String = "") -> JSONValue {
        switch value {
        case .object(let object): return .object(object.reduce(into: [:]) { $0[$1.key] = summary($1.value, key: $1.key) })
        case .array(let items): return .array(items.map { summary($0, key: key) })
        case .string(let text):
            let isImage = key.hasSuffix("_image") || key.hasSuffix("_upload") || key == "cn_img"
            let isInline = !FooocusAPIFields.noImage.contains(text) && !text.lowercased().hasPrefix("http")
            if isImage, isInline { return .string("<inline image: \(text.count) characters>") }
            return text.count > 4096 ? .string(String(text.prefix(4096)) + "…") : value
        default: return value
        }
    }
}

extension FooocusAPI25Request {
    /// The fal call, by the shared translation, with every location renamed to FooocusAPI 2.5's fields, so the
    /// translation's and the functions' 422s name what the client sent.
    func translate() throws -> FalCall {
        var call: FalCall
        do {
            call = try FooocusAPITranslation.translate(request)
        } catch let error as APIError {
            throw renamed(error)
        }
        call.origins = call.origins.mapValues(renamed)
        return call
    }

    /// A location in Fooocus-API's names (what the neutral request and the translation use) in 2.5's names:
    /// `advanced_params.x` → `x`, `input_image` → `uov_input_image`/`inpaint_input_image`, `input_mask` →
    /// `inpaint_mask_image_upload`, `save_extension` → `output_format`, `upscale_value` → `upscale_multiple`,
    /// `outpaint_distance_left` → `outpaint_distance.0` (its index in `[left, top, right, bottom]`).
    func renamed(_ origin: [String]) -> [String] {
        guard let first = origin.first else { return origin }
        let rest = Array(origin.dropFirst())
        switch first {
        case "advanced_params": return rest
        case "input_image": return [inputField] + rest
        case "input_mask": return ["inpaint_mask_image_upload"] + rest
        case "save_extension": return ["output_format"] + rest
        case "upscale_value": return ["upscale_multiple"] + rest
        case "image_prompts": return ["controlnet_image"] + rest
        case "outpaint_distance_left": return ["outpaint_distance", "0"]
        case "outpaint_distance_top": return ["outpaint_distance", "1"]
        case "outpaint_distance_right": return ["outpaint_distance", "2"]
        case "outpaint_distance_bottom": return ["outpaint_distance", "3"]
        default: return origin
        }
    }

    /// A translation error with its `loc`s (after `body`) renamed.
    func renamed(_ error: APIError) -> APIError {
        guard case .issues(let issues) = error.envelope.detail else { return error }
        var renamedError = error
        renamedError.envelope.detail = .issues(issues.map { issue in
            guard issue.loc.first == .string("body") else { return issue }
            let names = issue.loc.dropFirst().compactMap(\.stringValue)
            guard names.count == issue.loc.count - 1 else { return issue }
            var renamedIssue = issue
            renamedIssue.loc = [.string("body")] + renamed(names).map { .string($0) }
            return renamedIssue
        })
        return renamedError
    }
}
