import Foundation
import GantryCore
@testable import GantryServer
import Testing

/// Fooocus-API requests (parsed from JSON) onto the fal fooocus functions' inputs.
@Suite("Fooocus-API translation")
struct FooocusAPITranslationTests {
    static let styles = Set(FooocusAPICatalog.parseStyles(
        (try? String(contentsOf: repositoryRoot.appendingPathComponent("schemas/fooocus/styles.tsv"), encoding: .utf8)) ?? ""))
    static let image = "data:image/png;base64,\((try? testPNG(width: 8, height: 8))?.base64EncodedString() ?? "")"

    static func request(_ kind: FooocusAPIRequest.Kind, _ spelling: FooocusAPIRequest.Spelling = .v2JSON,
                        _ body: [String: JSONValue]) throws -> FooocusAPIRequest {
        try FooocusAPIRequest.parse(FooocusAPIFields(storage: .json(body)), kind: kind, spelling: spelling, styles: styles)
    }

    static func call(_ kind: FooocusAPIRequest.Kind, _ body: [String: JSONValue]) throws -> FalCall {
        try FooocusAPITranslation.translate(try request(kind, .v2JSON, body))
    }

    /// The `loc` of the 422 a body gets (at parse or translation).
    static func errorLoc(_ kind: FooocusAPIRequest.Kind, _ body: [String: JSONValue], spelling: FooocusAPIRequest.Spelling = .v2JSON) -> JSONValue? {
        do {
            _ = try FooocusAPITranslation.translate(try request(kind, spelling, body))
            return nil
        } catch let error as APIError {
            #expect(error.status == .unprocessableContent)
            return error.detail.arrayValue?.first?["loc"]
        } catch {
            return .string("\(error)")
        }
    }

    static func loc(_ parts: String...) -> JSONValue { .array([.string("body")] + parts.map { .string($0) }) }

    @Test func styleListIsFooocus255() {
        #expect(Self.styles.count == 279)
    }

    /// A bare v2 inpaint takes Fooocus-API's defaults, not fal's: Speed, png, 1152×896, its styles, refiner switch
    /// 0.5, no safety checker, and its advanced inpaint settings (strength 1, respective field 1) as overrides.
    @Test func inpaintDefaultsAreFooocusAPIs() throws {
        let call = try Self.call(.inpaintOutpaint, ["input_image": .string(Self.image), "outpaint_selections": .array([.string("Left")])])
        #expect(call.functionID == "fal-ai/fooocus/inpaint")
        let input = call.input
        #expect(input["inpaint_image_url"] == .string(Self.image))
        #expect(input["mask_image_url"] == nil)
        #expect(input["performance"] == .string("Speed") && input["output_format"] == .string("png"))
        #expect(input["aspect_ratio"] == .string("1152x896") && input["refiner_switch"] == .number(0.5))
        #expect(input["styles"] == .array(FooocusAPIRequest.defaultStyles.map { .string($0) }))
        #expect(input["override_inpaint_options"] == .bool(true) && input["inpaint_respective_field"] == .number(1))
        #expect(input["inpaint_strength"] == .number(1) && input["inpaint_engine"] == .string("v2.6"))
        #expect(input["enable_safety_checker"] == .bool(false) && input["seed"] == nil && input["loras"] == nil)
        #expect(input["outpaint_selections"] == .array([.string("Left")]))
    }

    /// Renamed fields carry over: image_number, image_seed, save_extension jpg, aspect ratio, loras (enabled ones),
    /// advanced inpaint parameters and the mask inversion.
    @Test func renamedFields() throws {
        let call = try Self.call(.inpaintOutpaint, [
            "input_image": .string(Self.image), "input_mask": .string(Self.image), "image_number": .number(2), "image_seed": .number(42),
            "save_extension": .string("jpg"), "aspect_ratios_selection": .string("896*1152"), "performance_selection": .string("Lightning"),
            "loras": .array([.object(["enabled": .bool(true), "model_name": .string("a.safetensors"), "weight": .number(0.7)]),
                             .object(["enabled": .bool(false), "model_name": .string("b.safetensors"), "weight": .number(1)])]),
            "advanced_params": .object(["inpaint_strength": .number(0.5), "inpaint_respective_field": .number(0.25),
                                        "inpaint_erode_or_dilate": .number(-3), "invert_mask_checkbox": .bool(true),
                                        "inpaint_engine": .string("v1"), "black_out_nsfw": .bool(true)]),
            "inpaint_additional_prompt": .string("a hat"),
        ])
        let input = call.input
        #expect(input["num_images"] == .number(2) && input["seed"] == .number(42) && input["output_format"] == .string("jpeg"))
        #expect(input["aspect_ratio"] == .string("896x1152") && input["performance"] == .string("Lightning"))
        #expect(input["loras"] == .array([.object(["path": .string("a.safetensors"), "scale": .number(0.7)])]))
        #expect(input["inpaint_strength"] == .number(0.5) && input["inpaint_respective_field"] == .number(0.25))
        #expect(input["inpaint_erode_or_dilate"] == .number(-3) && input["invert_mask"] == .bool(true))
        #expect(input["inpaint_engine"] == .string("v1") && input["enable_safety_checker"] == .bool(true))
        #expect(input["mask_image_url"] == .string(Self.image) && input["inpaint_additional_prompt"] == .string("a hat"))
    }

    /// Mode selection: upscale-vary and Upscale (Custom); image-prompt without image prompts runs as inpaint (or
    /// text-to-image); image prompts select the image-prompt function with per-type defaults.
    @Test func modeSelection() throws {
        let upscale = try Self.call(.upscaleVary, ["input_image": .string(Self.image), "uov_method": .string("Upscale (Custom)"),
                                                   "upscale_value": .number(1.5)])
        #expect(upscale.functionID == "fal-ai/fooocus/upscale-or-vary" && upscale.input["uov_method"] == .string("Upscale (1.5x)"))
        let five = try Self.call(.upscaleVary, ["input_image": .string(Self.image), "uov_method": .string("Upscale (Custom)"), "upscale_value": .number(5)])
        #expect(five.input["uov_method"] == .string("Upscale (2x)"))  // Fooocus-API: v ≥ 5 → 2
        #expect(try Self.call(.upscaleVary, ["input_image": .string(Self.image)]).input["uov_method"] == .string("Upscale (2x)"))

        #expect(try Self.call(.imagePrompt, ["input_image": .string(Self.image), "input_mask": .string(Self.image)]).functionID == "fal-ai/fooocus/inpaint")
        #expect(try Self.call(.imagePrompt, ["prompt": .string("x")]).functionID == "fal-ai/fooocus")
        let prompts = try Self.call(.imagePrompt, ["input_image": .string(Self.image), "image_prompts": .array([
            .object(["cn_img": .string("None")]),
            .object(["cn_img": .string(Self.image), "cn_type": .string("FaceSwap")]),
            .object(["cn_img": .string(Self.image), "cn_type": .string("PyraCanny"), "cn_stop": .number(0.3), "cn_weight": .number(1.5)]),
        ])])
        #expect(prompts.functionID == "fal-ai/fooocus/image-prompt" && prompts.input["mixing_image_prompt_and_inpaint"] == .bool(true))
        #expect(prompts.input["image_prompt_1"] == .object(["type": .string("FaceSwap"), "image_url": .string(Self.image),
                                                            "stop_at": .number(0.9), "weight": .number(0.75)]))
        #expect(prompts.input["image_prompt_2"]?["stop_at"] == .number(0.3) && prompts.input["image_prompt_2"]?["weight"] == .number(1.5))
        #expect(prompts.origins["image_prompt_1"] == ["image_prompts", "1"])
        #expect(try Self.call(.textToImage, ["image_prompts": .array([.object(["cn_img": .string(Self.image)])])]).functionID
                    == "fal-ai/fooocus/image-prompt")
    }

    /// Custom upscale factors and per-side outpaint distances reach the functions' (Gantry extension) fields: a
    /// factor other than 1.5 and 2 as `Upscale (Custom)` + `upscale_value`, a positive distance of a selected side as
    /// `outpaint_distance_<side>`; ≤ 0 (v2's default −1) and unselected sides keep Fooocus's 30 %.
    @Test func customFactorsAndDistances() throws {
        let three = try Self.call(.upscaleVary, ["input_image": .string(Self.image), "uov_method": .string("Upscale (Custom)"),
                                                 "upscale_value": .number(3)])
        #expect(three.input["uov_method"] == .string("Upscale (Custom)") && three.input["upscale_value"] == .number(3))
        #expect(three.origins["upscale_value"] == ["upscale_value"])
        let twoFive = try Self.call(.upscaleVary, ["input_image": .string(Self.image), "uov_method": .string("Upscale (Custom)"),
                                                   "upscale_value": .number(2.5)])
        #expect(twoFive.input["upscale_value"] == .number(2.5))
        #expect(try Self.call(.upscaleVary, ["input_image": .string(Self.image), "uov_method": .string("Upscale (2x)"),
                                             "upscale_value": .number(3)]).input["upscale_value"] == nil)

        let outpaint = try Self.call(.inpaintOutpaint, ["input_image": .string(Self.image), "outpaint_selections": .array([.string("Left"), .string("Bottom")]),
                                                        "outpaint_distance_left": .number(64), "outpaint_distance_top": .number(10),
                                                        "outpaint_distance_bottom": .number(-1)])
        #expect(outpaint.input["outpaint_distance_left"] == .number(64) && outpaint.origins["outpaint_distance_left"] == ["outpaint_distance_left"])
        #expect(outpaint.input["outpaint_distance_top"] == nil && outpaint.input["outpaint_distance_bottom"] == nil)
        // The function's 422 for a distance names the Fooocus-API field.
        let error = FunctionError(status: 422, errorType: "less_than_equal", detail: .issues([
            ValidationIssue(loc: [.string("body"), .string("outpaint_distance_left")], msg: "at most 2048", type: "less_than_equal")]))
        guard case .issues(let issues) = outpaint.mapped(error).detail else { Issue.record("not issues"); return }
        #expect(issues[0].loc == [.string("body"), .string("outpaint_distance_left")])
    }

    /// The bugs of docs/fooocus.md §1.10 and the values no function can express are 422s naming the field.
    @Test func inputErrorsNameTheField() {
        let base: [String: JSONValue] = ["input_image": .string(Self.image), "outpaint_selections": .string("Left, Right")]
        func with(_ extra: [String: JSONValue]) -> [String: JSONValue] { base.merging(extra) { $1 } }
        #expect(Self.errorLoc(.inpaintOutpaint, base) == nil)  // "Left, Right" is trimmed and accepted
        #expect(Self.errorLoc(.inpaintOutpaint, with(["meta_scheme": .string("a111")])) == Self.loc("meta_scheme"))
        #expect(Self.errorLoc(.inpaintOutpaint, with(["inpaint_additional_prompt": .null])) == Self.loc("inpaint_additional_prompt"))
        #expect(Self.errorLoc(.upscaleVary, ["input_image": .string(Self.image), "uov_method": .string("Upscale (Custom)")]) == Self.loc("upscale_value"))
        #expect(Self.errorLoc(.upscaleVary, ["input_image": .string(Self.image), "uov_method": .string("Upscale (3x)")]) == Self.loc("uov_method"))
        #expect(Self.errorLoc(.inpaintOutpaint, with(["outpaint_selections": .array([.string("Up")])])) == Self.loc("outpaint_selections", "0"))
        #expect(Self.errorLoc(.imagePrompt, with(["outpaint_distance_left": .number(64), "image_prompts": .array([
            .object(["cn_img": .string(Self.image)])])])) == Self.loc("outpaint_distance_left"))  // the image-prompt function has none
        #expect(Self.errorLoc(.inpaintOutpaint, with(["performance_selection": .string("Hyper-SD")])) == Self.loc("performance_selection"))
        #expect(Self.errorLoc(.inpaintOutpaint, with(["performance_selection": .string("Turbo")])) == Self.loc("performance_selection"))
        #expect(Self.errorLoc(.inpaintOutpaint, with(["style_selections": .array([.string("Fooocus V2"), .string("Nope")])]))
                    == Self.loc("style_selections", "1"))
        #expect(Self.errorLoc(.inpaintOutpaint, with(["save_extension": .string("gif")])) == Self.loc("save_extension"))
        #expect(Self.errorLoc(.inpaintOutpaint, with(["image_seed": .number(9.1e15)])) == Self.loc("image_seed"))
        #expect(Self.errorLoc(.inpaintOutpaint, with(["image_number": .number(33)])) == Self.loc("image_number"))
        #expect(Self.errorLoc(.inpaintOutpaint, with(["advanced_params": .string("{not json")])) == Self.loc("advanced_params"))
        #expect(Self.errorLoc(.inpaintOutpaint, with(["advanced_params": .object(["sampler_name": .string("magic")])]))
                    == Self.loc("advanced_params", "sampler_name"))
        #expect(Self.errorLoc(.inpaintOutpaint, with(["advanced_params": .object(["disable_seed_increment": .bool(true)]),
                                                      "image_number": .number(2)])) == Self.loc("advanced_params", "disable_seed_increment"))
        #expect(Self.errorLoc(.inpaintOutpaint, with(["loras": .array([.object(["enabled": .bool(true)])])])) == Self.loc("loras", "0", "model_name"))
        #expect(Self.errorLoc(.inpaintOutpaint, ["outpaint_selections": .string("Left")]) == Self.loc("input_image"))
        #expect(Self.errorLoc(.upscaleVary, ["uov_method": .string("Upscale (2x)")], spelling: .v1Form) == Self.loc("input_image"))
        // Seeds: -1 and values beyond 2^63 − 1 draw a random seed, as in Fooocus-API.
        #expect(Self.errorLoc(.inpaintOutpaint, with(["image_seed": .number(-1)])) == nil)
        #expect(Self.errorLoc(.inpaintOutpaint, with(["image_seed": .number(1e19)])) == nil)
    }

    /// A function's 422 names the Fooocus-API field, in `loc` and in the message.
    @Test func functionErrorsAreRenamed() throws {
        let call = try Self.call(.imagePrompt, ["input_image": .string(Self.image), "image_prompts": .array([.object(["cn_img": .string(Self.image)])])])
        let error = FunctionError(status: 422, errorType: "capability_unavailable", detail: .issues([
            ValidationIssue(loc: [.string("body"), .string("image_prompt_1")], msg: "no image_prompt_1 here", type: "capability_unavailable"),
            ValidationIssue(loc: [.string("body"), .string("num_images")], msg: "num_images too big", type: "less_than_equal"),
            ValidationIssue(loc: [.string("body"), .string("mask_image_url")], msg: "give a mask_image_url", type: "value_error"),
        ]))
        guard case .issues(let issues) = call.mapped(error).detail else { Issue.record("not issues"); return }
        #expect(issues[0].loc == [.string("body"), .string("image_prompts"), .string("0")] && issues[0].msg == "no image_prompts.0 here")
        #expect(issues[1].loc == [.string("body"), .string("image_number")] && issues[1].msg == "image_number too big")
        #expect(issues[2].loc == [.string("body"), .string("input_mask")] && issues[2].msg == "give a input_mask")
    }
}
