import Foundation
import GantryCore

extension FooocusAPIRequest {
    /// How a request was spelled: which fields exist and what their defaults are.
    enum Spelling: Sendable, Equatable {
        /// A v1 multipart form (`cn_img1…4` image prompts, outpaint distances default 0).
        case v1Form
        /// `/v1/generation/text-to-image`: a JSON CommonRequest, no images.
        case v1JSON
        /// The v2 JSON routes (`image_prompts` list, images as URL/data URI/base64, distances default −1).
        case v2JSON
    }

    /// Reads a request of `kind` with Fooocus-API's defaults and constraints. `styles` is the style list the host
    /// offers; an unknown name is a 422 (Fooocus-API drops it silently).
    static func parse(_ f: FooocusAPIFields, kind: Kind, spelling: Spelling, styles: Set<String>) throws -> FooocusAPIRequest {
        var r = FooocusAPIRequest(kind: kind)
        r.prompt = try f.string("prompt") ?? ""
        r.negativePrompt = try f.string("negative_prompt") ?? ""
        if let names = try f.list("style_selections") {
            for (index, name) in names.enumerated() where !styles.contains(name) {
                throw f.error("style_selections", "unknown style '\(name.prefix(100))'; GET /v1/engines/styles lists them",
                              type: "enum", below: [String(index)])
            }
            r.styles = names
        }
        r.performance = try f.oneOf("performance_selection", performances) ?? r.performance
        if let text = try f.string("aspect_ratios_selection") {
            guard let size = aspectRatio(text) else {
                throw f.error("aspect_ratios_selection", "Input should look like '1152*896' (width*height)")
            }
            r.aspectRatio = size
        }
        try r.parseSampling(f)
        if let value = try f.json("advanced_params") {
            guard case .object(let object) = value else {
                throw f.error("advanced_params", "Input should be an object (in a form: a JSON object string)", type: "dict_type")
            }
            r.advanced = try advanced(f.nested(object, at: ["advanced_params"]))
        }
        _ = try f.bool("save_meta")
        _ = try f.oneOf("meta_scheme", ["fooocus", "a1111"])
        if let format = try f.oneOf("save_extension", ["png", "jpeg", "jpg", "webp"]) {
            r.outputFormat = format == "jpg" ? "jpeg" : format
        }
        _ = try f.string("save_name", nullable: true)
        _ = try f.bool("read_wildcards_in_order")
        r.requireBase64 = try f.bool("require_base64") ?? false
        r.asyncProcess = try f.bool("async_process") ?? false
        r.webhookURL = try f.string("webhook_url", nullable: true).flatMap { $0.isEmpty ? nil : $0 }
        try r.parseImages(f, spelling: spelling)
        return r
    }

    /// The route-specific fields: input image and mask, upscale method, outpaint sides, image prompts.
    private mutating func parseImages(_ f: FooocusAPIFields, spelling: Spelling) throws {
        guard spelling != .v1JSON else { return }
        switch kind {
        case .textToImage: break
        case .upscaleVary:
            inputImage = try f.image("input_image")
            if inputImage == nil { throw f.error("input_image", "Field required: the image to upscale or vary", type: "missing") }
            if spelling == .v1Form, try f.string("uov_method") == nil { throw f.error("uov_method", "Field required", type: "missing") }
            uovMethod = try f.oneOf("uov_method", Self.uovMethods) ?? uovMethod
            // Fooocus-API's rule: the value when 0 < v < 5, else 2 (so 5 means 2).
            upscaleValue = try f.double("upscale_value", in: 1...5).map { $0 < 5 ? $0 : 2 }
        case .inpaintOutpaint, .imagePrompt:
            inputImage = try f.image("input_image")
            if kind == .inpaintOutpaint, inputImage == nil {
                throw f.error("input_image", "Field required: the image to inpaint or outpaint", type: "missing")
            }
            inputMask = try f.image("input_mask")
            inpaintAdditionalPrompt = try f.string("inpaint_additional_prompt") ?? ""
            for (index, side) in (try f.list("outpaint_selections") ?? []).enumerated() {
                // Fooocus-API compares case-sensitively and untrimmed ("Left, Right" fails); Gantry trims (in
                // `list`) and accepts any case.
                guard let known = Self.outpaintSides.first(where: { $0.lowercased() == side.lowercased() }) else {
                    throw f.error("outpaint_selections", "Input should be 'Left', 'Right', 'Top' or 'Bottom', not '\(side.prefix(40))'",
                                  type: "enum", below: [String(index)])
                }
                if !outpaintSelections.contains(known) { outpaintSelections.append(known) }
            }
            outpaintDistances.left = try f.int("outpaint_distance_left") ?? 0
            outpaintDistances.right = try f.int("outpaint_distance_right") ?? 0
            outpaintDistances.top = try f.int("outpaint_distance_top") ?? 0
            outpaintDistances.bottom = try f.int("outpaint_distance_bottom") ?? 0
        }
        if spelling == .v1Form {
            guard kind == .imagePrompt else { return }
            imagePrompts = try (1...4).map { slot in
                var prompt = ImagePrompt(image: try f.image("cn_img\(slot)"), location: ["cn_img\(slot)"])
                prompt.stop = try f.double("cn_stop\(slot)", in: 0...1) ?? 0
                prompt.weight = try f.double("cn_weight\(slot)", in: 0...2) ?? 0
                prompt.type = try f.oneOf("cn_type\(slot)", Self.controlNetTypes) ?? prompt.type
                return prompt
            }
        } else if let value = try f.json("image_prompts") {
            guard case .array(let items) = value else { throw f.error("image_prompts", "Input should be a valid list", type: "list_type") }
            guard items.count <= 4 else { throw f.error("image_prompts", "At most 4 image prompts", type: "too_long") }
            imagePrompts = try items.enumerated().map { index, item in
                guard case .object(let object) = item else {
                    throw f.error("image_prompts", "Input should be an object", type: "dict_type", below: [String(index)])
                }
                let slot = f.nested(object, at: ["image_prompts", String(index)])
                var prompt = ImagePrompt(image: try slot.image("cn_img"), location: ["image_prompts", String(index)])
                prompt.stop = try slot.double("cn_stop", in: 0...1) ?? 0
                prompt.weight = try slot.double("cn_weight", in: 0...2) ?? 0
                prompt.type = try slot.oneOf("cn_type", Self.controlNetTypes) ?? prompt.type
                return prompt
            }
        }
    }

    /// `"1152*896"` (also `×`) → width 1152, height 896.
    /// The fields both APIs spell alike: image count, seed, sharpness, guidance, models and LoRAs.
    mutating func parseSampling(_ f: FooocusAPIFields) throws {
        imageNumber = try f.int("image_number", in: 1...32) ?? 1
        if let seed = try f.double("image_seed") {
            guard seed.rounded() == seed else { throw f.error("image_seed", "Input should be a valid integer", type: "int_from_float") }
            // Both APIs draw a random seed for -1 and for anything outside 0…2^63−1.
            self.seed = seed >= 0 && seed < 9.223372036854775807e18 ? Int(seed) : -1
        }
        sharpness = try f.double("sharpness", in: 0...30) ?? sharpness
        guidanceScale = try f.double("guidance_scale", in: 1...30) ?? guidanceScale
        _ = try f.string("base_model_name")
        refinerModel = try f.string("refiner_model_name") ?? refinerModel
        refinerSwitch = try f.double("refiner_switch", in: 0.1...1) ?? refinerSwitch
        loras = try Self.loras(f)
    }

    static func aspectRatio(_ text: String) -> Size? {
        let parts = text.replacingOccurrences(of: "×", with: "*").split(separator: "*", omittingEmptySubsequences: false)
        guard parts.count == 2, let width = Int(parts[0].trimmingCharacters(in: .whitespaces)),
              let height = Int(parts[1].trimmingCharacters(in: .whitespaces)), width > 0, height > 0 else { return nil }
        return Size(width: width, height: height)
    }

    /// `loras`: a list of `{enabled, model_name, weight}` (a JSON string in a form).
    static func loras(_ f: FooocusAPIFields) throws -> [Lora]? {
        guard let value = try f.json("loras") else { return nil }
        guard case .array(let items) = value else { throw f.error("loras", "Input should be a valid list", type: "list_type") }
        return try items.enumerated().map { index, item in
            guard case .object(let object) = item else { throw f.error("loras", "Input should be an object", type: "dict_type", below: [String(index)]) }
            let entry = f.nested(object, at: ["loras", String(index)])
            guard let name = try entry.string("model_name") else { throw entry.error("model_name", "Field required", type: "missing") }
            return Lora(enabled: try entry.bool("enabled") ?? true, modelName: name, weight: try entry.double("weight", in: -2...2) ?? 0.5)
        }
    }
}

extension FooocusAPIRequest {
    /// `advanced_params.sampler_name` values (Fooocus `modules/flags.py`).
    static let samplers = [
        "euler", "euler_ancestral", "heun", "heunpp2", "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive",
        "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_3m_sde",
        "dpmpp_3m_sde_gpu", "ddpm", "lcm", "tcd", "restart", "ddim", "uni_pc", "uni_pc_bh2",
    ]
    /// `advanced_params.scheduler_name` values.
    static let schedulers = [
        "normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "lcm", "turbo", "align_your_steps", "tcd",
        "edm_playground_v2.5",
    ]

    /// Reads `advanced_params` (docs/fooocus.md §1.4). The fields the fal functions take are kept; the others are checked
    /// against Fooocus-API's types and ranges and then ignored (the functions log what they ignore). Fooocus-API
    /// replaces an invalid object with all defaults, silently; here the first bad field is a 422 naming it.
    /// `flat`: FooocusAPI 2.5's top-level spelling (§2.3) — ADM scalers from 0, `overwrite_step`/`overwrite_switch`
    /// any integer, respective field 0.618 by default, and `invert_mask_checkbox` checked but forced off.
    static func advanced(_ f: FooocusAPIFields, flat: Bool = false) throws -> Advanced {
        var a = Advanced()
        a.disableSeedIncrement = try f.bool("disable_seed_increment") ?? false
        a.overwriteWidth = try f.int("overwrite_width", in: -1...2048) ?? -1
        a.overwriteHeight = try f.int("overwrite_height", in: -1...2048) ?? -1
        a.inpaintEngine = try f.oneOf("inpaint_engine", ["None", "v1", "v2.5", "v2.6"]) ?? a.inpaintEngine
        a.inpaintStrength = try f.double("inpaint_strength", in: 0...1) ?? a.inpaintStrength
        a.inpaintRespectiveField = try f.double("inpaint_respective_field", in: 0...1) ?? (flat ? 0.618 : a.inpaintRespectiveField)
        a.inpaintErodeOrDilate = try f.int("inpaint_erode_or_dilate", in: -64...64) ?? 0
        a.inpaintDisableInitialLatent = try f.bool("inpaint_disable_initial_latent") ?? false
        a.invertMask = try f.bool("invert_mask_checkbox") ?? false
        if flat { a.invertMask = false }
        a.debuggingInpaintPreprocessor = try f.bool("debugging_inpaint_preprocessor") ?? false
        a.blackOutNSFW = try f.bool("black_out_nsfw") ?? false

        _ = try f.oneOf("sampler_name", samplers)
        _ = try f.oneOf("scheduler_name", schedulers)
        _ = try f.oneOf("refiner_swap_method", ["joint", "separate", "vae"])
        _ = try f.string("vae_name")
        for name in ["disable_preview", "disable_intermediate_results", "mixing_image_prompt_and_vary_upscale",
                     "mixing_image_prompt_and_inpaint", "debugging_cn_preprocessor", "skipping_cn_preprocessor", "freeu_enabled",
                     "inpaint_advanced_masking_checkbox", "debugging_dino", "debugging_enhance_masks_checkbox"] {
            _ = try f.bool(name)
        }
        let ranges: [(String, ClosedRange<Double>)] = [
            ("adm_scaler_positive", (flat ? 0 : 0.1)...3), ("adm_scaler_negative", (flat ? 0 : 0.1)...3), ("adm_scaler_end", 0...1),
            ("adaptive_cfg", 1...30), ("overwrite_vary_strength", -1...1), ("overwrite_upscale_strength", -1...1),
            ("controlnet_softness", 0...1),
        ]
        for (name, range) in ranges { _ = try f.double(name, in: range) }
        if flat { _ = try f.int("overwrite_switch") } else { _ = try f.double("overwrite_switch", in: -1...1) }
        for name in ["freeu_b1", "freeu_b2", "freeu_s1", "freeu_s2"] { _ = try f.double(name) }
        let intRanges: [(String, ClosedRange<Int>)] = [
            ("clip_skip", 1...12), ("canny_low_threshold", 1...255), ("canny_high_threshold", 1...255), ("dino_erode_or_dilate", -64...64),
        ]
        for (name, range) in intRanges { _ = try f.int(name, in: range) }
        _ = try f.int("overwrite_step", in: flat ? nil : -1...200)
        return a
    }
}
