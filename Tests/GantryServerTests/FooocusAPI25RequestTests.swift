import Foundation
import GantryCore
@testable import GantryServer
import Testing

/// FooocusAPI 2.5's flat request (docs/fooocus.md §2.3) onto the neutral request and the fal functions' inputs.
@Suite("FooocusAPI 2.5 request")
struct FooocusAPI25RequestTests {
    static let image = FooocusAPITranslationTests.image

    static func parse(_ body: [String: JSONValue]) throws -> FooocusAPI25Request {
        try FooocusAPI25Request.parse(FooocusAPIFields(storage: .json(body)), styles: FooocusAPITranslationTests.styles)
    }

    /// The `loc` of the 422 a body gets (at parse or translation).
    static func errorLoc(_ body: [String: JSONValue]) -> JSONValue? {
        do {
            _ = try parse(body).translate()
            return nil
        } catch let error as APIError {
            #expect(error.status == .unprocessableContent)
            return error.detail.arrayValue?.first?["loc"]
        } catch {
            return .string("\(error)")
        }
    }

    /// An inpaint with 2.5's defaults: respective field 0.618 (not Fooocus-API's 1), the flat inpaint settings as
    /// overrides, `[left, top, right, bottom]` distances on the selected sides, `output_format`.
    @Test func inpaintDefaultsAndDistances() throws {
        let parsed = try Self.parse(["inpaint_input_image": .string(Self.image), "outpaint_selections": .array([.string("Left"), .string("top")]),
                                     "outpaint_distance": .array([.number(64), .number(-1), .number(30), .number(0)]),
                                     "output_format": .string("jpg"), "inpaint_strength": .number(0.5), "invert_mask_checkbox": .bool(true)])
        #expect(parsed.request.kind == .inpaintOutpaint && parsed.inputField == "inpaint_input_image")
        let call = try parsed.translate()
        #expect(call.functionID == "fal-ai/fooocus/inpaint")
        #expect(call.input["inpaint_respective_field"] == .number(0.618) && call.input["inpaint_strength"] == .number(0.5))
        #expect(call.input["invert_mask"] == .bool(false))  // FooocusAPI forces it off
        #expect(call.input["outpaint_selections"] == .array([.string("Left"), .string("Top")]))
        #expect(call.input["outpaint_distance_left"] == .number(64) && call.input["outpaint_distance_top"] == nil)
        #expect(call.input["outpaint_distance_right"] == nil)  // Right is not selected
        #expect(call.input["output_format"] == .string("jpeg") && call.input["performance"] == .string("Speed"))
        #expect(call.origins["outpaint_distance_left"] == ["outpaint_distance", "0"] && call.origins["inpaint_image_url"] == ["inpaint_input_image"])
        #expect(call.origins["inpaint_strength"] == ["inpaint_strength"] && call.origins["output_format"] == ["output_format"])
        #expect(call.origins["mask_image_url"] == ["inpaint_mask_image_upload"])
    }

    /// Tab choice: an upscale image beats an inpaint image; `Upscale (Custom)` is the factor `upscale_multiple` itself
    /// (5 stays 5, unlike Fooocus-API's rule); image prompts win unless a mixing flag brings the other image in.
    @Test func tabsAndCustomUpscale() throws {
        let upscale = try Self.parse(["uov_input_image": .string(Self.image), "inpaint_input_image": .string(Self.image),
                                      "uov_method": .string("Upscale (Custom)"), "upscale_multiple": .number(5)])
        #expect(upscale.request.kind == .upscaleVary && upscale.inputField == "uov_input_image")
        let call = try upscale.translate()
        #expect(call.functionID == "fal-ai/fooocus/upscale-or-vary" && call.input["uov_method"] == .string("Upscale (Custom)"))
        #expect(call.input["upscale_value"] == .number(5) && call.origins["upscale_value"] == ["upscale_multiple"])
        #expect(call.origins["uov_image_url"] == ["uov_input_image"])
        #expect(try Self.parse(["uov_input_image": .string(Self.image), "uov_method": .string("Upscale (Custom)"), "upscale_multiple": .number(1.5)])
                    .translate().input["uov_method"] == .string("Upscale (1.5x)"))
        #expect(try Self.parse(["uov_input_image": .string(Self.image)]).request.uovMethod == "Disabled")

        let prompt: JSONValue = .array([.object(["cn_img": .string(Self.image), "cn_type": .string("PyraCanny")])])
        let ip = try Self.parse(["controlnet_image": prompt, "inpaint_input_image": .string(Self.image)])
        #expect(ip.request.kind == .textToImage)
        let ipCall = try ip.translate()
        #expect(ipCall.functionID == "fal-ai/fooocus/image-prompt" && ipCall.origins["image_prompt_1"] == ["controlnet_image", "0"])
        #expect(ipCall.input["image_prompt_1"]?["stop_at"] == .number(0.6) && ipCall.input["image_prompt_1"]?["weight"] == .number(0.6))
        let mixed = try Self.parse(["controlnet_image": prompt, "inpaint_input_image": .string(Self.image), "mixing_image_prompt_and_inpaint": .bool(true),
                                    "outpaint_selections": .array([.string("Left")])])
        let mixedCall = try mixed.translate()
        #expect(mixed.request.kind == .inpaintOutpaint && mixedCall.input["mixing_image_prompt_and_inpaint"] == .bool(true))
        #expect(try Self.parse(["prompt": .string("a cat")]).request.kind == .textToImage)
    }

    /// `req_params` keeps the body as sent, with inline images abbreviated and URLs kept.
    @Test func paramsSummary() throws {
        let parsed = try Self.parse(["inpaint_input_image": .string(Self.image), "inpaint_mask_image_upload": .string("None"),
                                     "uov_input_image": .string("https://example.com/a.png"), "outpaint_selections": .array([.string("Left")]),
                                     "controlnet_image": .array([.object(["cn_img": .string(Self.image)])]), "prompt": .string("hi")])
        #expect(parsed.params["inpaint_input_image"] == .string("<inline image: \(Self.image.count) characters>"))
        #expect(parsed.params["inpaint_mask_image_upload"] == .string("None") && parsed.params["prompt"] == .string("hi"))
        #expect(parsed.params["uov_input_image"] == .string("https://example.com/a.png"))
        #expect(parsed.params["controlnet_image"]?.arrayValue?.first?["cn_img"]?.stringValue?.hasPrefix("<inline image") == true)
    }

    /// Input errors are 422s naming 2.5's field, at parse and at translation.
    @Test func inputErrorsNameTheField() {
        let base: [String: JSONValue] = ["inpaint_input_image": .string(Self.image), "outpaint_selections": .array([.string("Left")])]
        func with(_ extra: [String: JSONValue]) -> [String: JSONValue] { base.merging(extra) { $1 } }
        func loc(_ parts: String...) -> JSONValue { .array([.string("body")] + parts.map { .string($0) }) }
        #expect(Self.errorLoc(base) == nil)
        #expect(Self.errorLoc(with(["metadata_scheme": .string("a111")])) == loc("metadata_scheme"))
        #expect(Self.errorLoc(with(["inpaint_additional_prompt": .null])) == loc("inpaint_additional_prompt"))
        #expect(Self.errorLoc(with(["outpaint_distance": .array([.number(1), .number(2), .number(3)])])) == loc("outpaint_distance"))
        #expect(Self.errorLoc(with(["outpaint_distance": .array([.string("a"), .number(0), .number(0), .number(0)])])) == loc("outpaint_distance", "0"))
        #expect(Self.errorLoc(with(["outpaint_selections": .array([.string("Up")])])) == loc("outpaint_selections", "0"))
        #expect(Self.errorLoc(with(["upscale_multiple": .number(6)])) == loc("upscale_multiple"))
        #expect(Self.errorLoc(with(["uov_method": .string("Upscale (3x)")])) == loc("uov_method"))
        #expect(Self.errorLoc(with(["preset": .string("anime")])) == loc("preset"))
        #expect(Self.errorLoc(with(["preset": .string("initial")])) == nil)
        #expect(Self.errorLoc(with(["enhance_checkbox": .bool(true)])) == loc("enhance_checkbox"))
        #expect(Self.errorLoc(with(["enhance_input_image": .string(Self.image)])) == loc("enhance_input_image"))
        #expect(Self.errorLoc(with(["performance_selection": .string("Hyper-SD")])) == loc("performance_selection"))
        #expect(Self.errorLoc(with(["style_selections": .array([.string("Nope")])])) == loc("style_selections", "0"))
        #expect(Self.errorLoc(with(["inpaint_input_image": .string("not an image")])) == loc("inpaint_input_image"))
        #expect(Self.errorLoc(with(["output_format": .string("gif")])) == loc("output_format"))
        #expect(Self.errorLoc(with(["adm_scaler_positive": .number(0)])) == nil)  // 2.5 allows 0; Fooocus-API 0.1
        #expect(Self.errorLoc(with(["adm_scaler_positive": .number(3.5)])) == loc("adm_scaler_positive"))
        #expect(Self.errorLoc(with(["overwrite_step": .number(500)])) == nil)
        #expect(Self.errorLoc(with(["disable_seed_increment": .bool(true), "image_number": .number(2)])) == loc("disable_seed_increment"))
        #expect(Self.errorLoc(with(["controlnet_image": .array(Array(repeating: .object([:]), count: 5))])) == loc("controlnet_image"))
        #expect(Self.errorLoc(with(["controlnet_image": .array([.object(["cn_stop": .number(2)])])])) == loc("controlnet_image", "0", "cn_stop"))
        #expect(Self.errorLoc(with(["controlnet_image": .array([.object(["cn_stop": .null, "cn_weight": .null])])])) == nil)
        #expect(Self.errorLoc(with(["image_seed": .number(-1)])) == nil)
        #expect(Self.errorLoc(with(["webhook_url": .null, "save_name": .null])) == nil)
    }
}
