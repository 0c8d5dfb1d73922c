import Foundation
import GantryCore

/// A Fooocus request as a call of one fal function: the function id, its JSON input, and for each fal field the
/// location in the Fooocus request it came from, so the function's 422s name the field the client sent.
struct FalCall: Sendable, Equatable {
    var functionID: String
    var input: [String: JSONValue] = [:]
    /// fal field → location in the Fooocus request (`["input_mask"]`, `["image_prompts", "1"]`).
    var origins: [String: [String]] = [:]

    /// Sets a fal field and remembers where it came from.
    mutating func set(_ field: String, _ value: JSONValue, from origin: [String]) {
        input[field] = value
        origins[field] = origin
    }

    /// A function error with its `loc`s (and the field names in its messages) rewritten to the request's fields.
    func mapped(_ error: FunctionError) -> FunctionError {
        guard case .issues(let issues) = error.detail else { return error }
        var mapped = error
        let renames = origins.filter { $0.key.contains("_") && $0.value.first != $0.key }.sorted { $0.key.count > $1.key.count }
        mapped.detail = .issues(issues.map { issue in
            var issue = issue
            if issue.loc.count >= 2, issue.loc[0] == .string("body"), let field = issue.loc[1].stringValue, let origin = origins[field] {
                issue.loc = [.string("body")] + origin.map { .string($0) } + issue.loc.dropFirst(2)
            }
            for (field, origin) in renames { issue.msg = issue.msg.replacingOccurrences(of: field, with: origin.joined(separator: ".")) }
            return issue
        })
        return mapped
    }
}

/// Maps Fooocus requests onto the fal fooocus functions (docs/fooocus.md §1.3–1.5 onto the fal inputs of docs/fooocus.md §5), keeping every
/// value a function uses; what no function can express is a 422 naming the field rather than a silent change.
enum FooocusAPITranslation {
    static let textToImage = "fal-ai/fooocus"
    static let inpaint = "fal-ai/fooocus/inpaint"
    static let upscaleOrVary = "fal-ai/fooocus/upscale-or-vary"
    static let imagePrompt = "fal-ai/fooocus/image-prompt"
    /// The functions a Fooocus-API job can be: their requests are visible through query-job and count towards the
    /// Fooocus-API queue bound, whichever surface submitted them.
    static let functionIDs: Set<String> = [textToImage, inpaint, upscaleOrVary, imagePrompt]
    /// The largest seed the fal functions take (2^53 − 1, what a JSON number holds exactly).
    static let maxSeed = 9_007_199_254_740_991

    /// The job type of a fooocus function's request, as query-job names it.
    static func kind(ofFunction id: String) -> FooocusAPIRequest.Kind? {
        switch id {
        case textToImage: .textToImage
        case inpaint: .inpaintOutpaint
        case upscaleOrVary: .upscaleVary
        case imagePrompt: .imagePrompt
        default: nil
        }
    }

    /// The fal call for a Fooocus request. Mode selection follows Fooocus-API (`parameters.py`): image prompts with
    /// an image make it an image-prompt job (mixed with the input image's upscale or inpaint when there is one).
    static func translate(_ r: FooocusAPIRequest) throws -> FalCall {
        let prompts = r.activeImagePrompts
        var call: FalCall
        switch r.kind {
        case .textToImage:
            call = FalCall(functionID: prompts.isEmpty ? textToImage : imagePrompt)
        case .upscaleVary:
            call = FalCall(functionID: upscaleOrVary)
            call.set("uov_image_url", .string(r.inputImage ?? ""), from: ["input_image"])
            try uovMethod(r, into: &call)
            if let first = prompts.first { call.set("mixing_image_prompt_and_vary_upscale", .bool(true), from: first.location) }
        case .inpaintOutpaint:
            call = FalCall(functionID: inpaint)
            try inpaintFields(r, into: &call, overrides: true)
        case .imagePrompt:
            call = FalCall(functionID: !prompts.isEmpty ? imagePrompt : r.inputImage != nil ? inpaint : textToImage)
            if r.inputImage != nil { try inpaintFields(r, into: &call, overrides: call.functionID == inpaint) }
        }
        try common(r, into: &call)
        if call.functionID != textToImage {
            for (index, prompt) in prompts.enumerated() {
                let defaults = FooocusAPIRequest.controlNetDefaults(prompt.type)
                call.set("image_prompt_\(index + 1)", .object([
                    "type": .string(prompt.type), "image_url": .string(prompt.image ?? ""),
                    "stop_at": .number(prompt.stop > 0 ? prompt.stop : defaults.stop),
                    "weight": .number(prompt.weight > 0 ? prompt.weight : defaults.weight),
                ]), from: prompt.location)
            }
        }
        return call
    }

    /// The fields every fooocus function takes.
    private static func common(_ r: FooocusAPIRequest, into call: inout FalCall) throws {
        if r.performance == "Hyper-SD" {
            throw APIError.field(["body", "performance_selection"],
                                 "Hyper-SD is not offered by the fal fooocus functions; use Speed, Quality, Extreme Speed or Lightning",
                                 type: "enum")
        }
        if r.advanced.disableSeedIncrement, r.imageNumber > 1 {
            throw APIError.field(["body", "advanced_params", "disable_seed_increment"],
                                 "the fal fooocus functions give image i the seed seed+i; disable_seed_increment needs image_number 1",
                                 type: "value_error")
        }
        call.set("prompt", .string(r.prompt), from: ["prompt"])
        call.set("negative_prompt", .string(r.negativePrompt), from: ["negative_prompt"])
        call.set("styles", .array(r.styles.map { .string($0) }), from: ["style_selections"])
        call.set("performance", .string(r.performance), from: ["performance_selection"])
        call.set("guidance_scale", .number(r.guidanceScale), from: ["guidance_scale"])
        call.set("sharpness", .number(r.sharpness), from: ["sharpness"])
        let width = r.advanced.overwriteWidth > 0 ? r.advanced.overwriteWidth : r.aspectRatio.width
        let height = r.advanced.overwriteHeight > 0 ? r.advanced.overwriteHeight : r.aspectRatio.height
        let sizeOrigin = r.advanced.overwriteWidth > 0 ? ["advanced_params", "overwrite_width"]
            : r.advanced.overwriteHeight > 0 ? ["advanced_params", "overwrite_height"] : ["aspect_ratios_selection"]
        call.set("aspect_ratio", .string("\(width)x\(height)"), from: sizeOrigin)
        call.set("num_images", .number(Double(r.imageNumber)), from: ["image_number"])
        if let loras = r.loras {
            call.set("loras", .array(loras.filter(\.enabled).map { .object(["path": .string($0.modelName), "scale": .number($0.weight)]) }),
                     from: ["loras"])
        }
        call.set("refiner_model", .string(r.refinerModel), from: ["refiner_model_name"])
        call.set("refiner_switch", .number(r.refinerSwitch), from: ["refiner_switch"])
        call.set("output_format", .string(r.outputFormat), from: ["save_extension"])
        if r.seed >= 0 {
            guard r.seed <= maxSeed else {
                throw APIError.field(["body", "image_seed"], "image_seed must be at most \(maxSeed) here (or -1 for a random seed)",
                                     type: "less_than_equal")
            }
            call.set("seed", .number(Double(r.seed)), from: ["image_seed"])
        }
        call.set("enable_safety_checker", .bool(r.advanced.blackOutNSFW), from: ["advanced_params", "black_out_nsfw"])
    }

    /// The inpaint and outpaint fields. `overrides`: the inpaint function takes Fooocus-API's `advanced_params`
    /// inpaint settings (strength 1, respective field 1 by default) instead of fal's presets.
    private static func inpaintFields(_ r: FooocusAPIRequest, into call: inout FalCall, overrides: Bool) throws {
        // A positive distance of a selected side goes to the inpaint function's (Gantry) distance fields; ≤ 0 is
        // Fooocus's default of 30 %. The image-prompt function has no such fields.
        for side in r.outpaintSelections where r.outpaintDistances.value(side) > 0 {
            let field = "outpaint_distance_\(side.lowercased())"
            guard call.functionID == inpaint else {
                throw APIError.field(["body", field], "custom outpaint distances are not available together with image prompts; send 0 or -1",
                                     type: "value_error")
            }
            call.set(field, .number(Double(r.outpaintDistances.value(side))), from: [field])
        }
        call.set("inpaint_image_url", .string(r.inputImage ?? ""), from: ["input_image"])
        // The origin is kept without a mask too: "nothing to inpaint" names mask_image_url.
        if let mask = r.inputMask { call.set("mask_image_url", .string(mask), from: ["input_mask"]) } else { call.origins["mask_image_url"] = ["input_mask"] }
        call.set("inpaint_additional_prompt", .string(r.inpaintAdditionalPrompt), from: ["inpaint_additional_prompt"])
        call.set("outpaint_selections", .array(r.outpaintSelections.map { .string($0) }), from: ["outpaint_selections"])
        if let first = r.activeImagePrompts.first { call.set("mixing_image_prompt_and_inpaint", .bool(true), from: first.location) }
        guard overrides else { return }
        let a = r.advanced
        call.set("override_inpaint_options", .bool(true), from: ["advanced_params"])
        call.set("inpaint_engine", .string(a.inpaintEngine), from: ["advanced_params", "inpaint_engine"])
        call.set("inpaint_strength", .number(a.inpaintStrength), from: ["advanced_params", "inpaint_strength"])
        call.set("inpaint_respective_field", .number(a.inpaintRespectiveField), from: ["advanced_params", "inpaint_respective_field"])
        call.set("inpaint_erode_or_dilate", .number(Double(a.inpaintErodeOrDilate)), from: ["advanced_params", "inpaint_erode_or_dilate"])
        call.set("inpaint_disable_initial_latent", .bool(a.inpaintDisableInitialLatent), from: ["advanced_params", "inpaint_disable_initial_latent"])
        call.set("invert_mask", .bool(a.invertMask), from: ["advanced_params", "invert_mask_checkbox"])
        call.set("debugging_inpaint_preprocessor", .bool(a.debuggingInpaintPreprocessor),
                 from: ["advanced_params", "debugging_inpaint_preprocessor"])
    }

    /// `uov_method`, with `Upscale (Custom)` by the request's factor (`upscaleValue`, already resolved by the
    /// surface's rule): 1.5 and 2 as the named methods, any other factor as the function's `Upscale (Custom)`.
    private static func uovMethod(_ r: FooocusAPIRequest, into call: inout FalCall) throws {
        guard r.uovMethod == "Upscale (Custom)" else {
            call.set("uov_method", .string(r.uovMethod), from: ["uov_method"])
            return
        }
        guard let factor = r.upscaleValue else {
            throw APIError.field(["body", "upscale_value"], "Field required: Upscale (Custom) needs upscale_value", type: "missing")
        }
        switch factor {
        case 1.5: call.set("uov_method", .string("Upscale (1.5x)"), from: ["uov_method"])
        case 2: call.set("uov_method", .string("Upscale (2x)"), from: ["uov_method"])
        default:
            call.set("uov_method", .string("Upscale (Custom)"), from: ["uov_method"])
            call.set("upscale_value", .number(factor), from: ["upscale_value"])
        }
    }
}
