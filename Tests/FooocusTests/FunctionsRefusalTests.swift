import Foundation
@testable import Fooocus
import GantryCore
import Imaging
import Testing

/// Submit-time refusals (`check`) and the 422s a run gives for unusable images.
@Suite("Fooocus function refusals")
struct FunctionsRefusalTests {
    static let image = "data:image/png;base64,AAAA"

    /// The check of a handler by name, on an input object (decoded as the host does).
    static func check(_ handler: String, _ fields: [String: Any], engine: any ImageEngine = ReferenceEngine()) async -> FunctionError? {
        let function = FooocusFunctions.handlers(engine: engine)[handler]!
        return await functionError { try function.check(input: JSONSerialization.data(withJSONObject: fields)) }
    }

    static func expectCapabilityRefusal(_ error: FunctionError?, fields expected: [String], phrases: [String], engine: String = "reference",
                                        sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(error?.status == 422, sourceLocation: sourceLocation)
        #expect(error?.errorType == "capability_unavailable", sourceLocation: sourceLocation)
        #expect(fields(of: error) == expected, sourceLocation: sourceLocation)
        let message = error?.message ?? ""
        #expect(message.contains("\(engine) engine"), "\(message)", sourceLocation: sourceLocation)
        for phrase in phrases { #expect(message.contains(phrase), "\(message)", sourceLocation: sourceLocation) }
    }

    @Test func textToImageIsAlwaysRefused() async {
        Self.expectCapabilityRefusal(await Self.check("fooocus.text-to-image", [:]), fields: ["prompt"],
                                     phrases: ["text-to-image generation", "text-to-image'"])
        Self.expectCapabilityRefusal(await Self.check("fooocus.text-to-image", ["prompt": "a cat", "control_image_url": Self.image]),
                                     fields: ["prompt", "control_image_url"], phrases: ["image prompts"])
    }

    @Test func varyIsRefusedUpscaleIsNot() async {
        // fal's default uov_method is Vary (Strong).
        Self.expectCapabilityRefusal(await Self.check("fooocus.upscale-or-vary", ["uov_image_url": Self.image]),
                                     fields: ["uov_method"], phrases: ["image variation (Vary)"])
        Self.expectCapabilityRefusal(await Self.check("fooocus.upscale-or-vary", ["uov_image_url": Self.image, "uov_method": "Vary (Subtle)"]),
                                     fields: ["uov_method"], phrases: ["Vary"])
        for method in ["Upscale (1.5x)", "Upscale (2x)", "Upscale (Fast 2x)"] {
            #expect(await Self.check("fooocus.upscale-or-vary", ["uov_image_url": Self.image, "uov_method": method]) == nil)
        }
        let disabled = await Self.check("fooocus.upscale-or-vary", ["uov_image_url": Self.image, "uov_method": "Disabled"])
        #expect(disabled?.status == 422 && fields(of: disabled) == ["uov_method"])
        #expect(disabled?.message.contains("nothing to do") == true)
    }

    @Test func imagePromptsAreRefused() async {
        Self.expectCapabilityRefusal(await Self.check("fooocus.image-prompt", ["image_prompt_1": ["image_url": Self.image]]),
                                     fields: ["image_prompt_1"], phrases: ["image prompts"])
        // Even with the vary field on top, both missing capabilities are named.
        Self.expectCapabilityRefusal(await Self.check("fooocus.image-prompt", [
            "image_prompt_1": ["image_url": Self.image, "type": "PyraCanny"], "uov_image_url": Self.image, "uov_method": "Vary (Strong)",
        ]), fields: ["uov_method", "image_prompt_1"], phrases: ["image prompts", "Vary"])
        let inpaint: [String: Any] = ["inpaint_image_url": Self.image, "mask_image_url": Self.image]
        Self.expectCapabilityRefusal(await Self.check("fooocus.inpaint", inpaint.merging(["image_prompt_3": ["image_url": Self.image]]) { $1 }),
                                     fields: ["image_prompt_3"], phrases: ["image prompts"])
        Self.expectCapabilityRefusal(await Self.check("fooocus.inpaint", inpaint.merging(["mixing_image_prompt_and_inpaint": true]) { $1 }),
                                     fields: ["mixing_image_prompt_and_inpaint"], phrases: ["image prompts"])
        Self.expectCapabilityRefusal(await Self.check("fooocus.upscale-or-vary", [
            "uov_image_url": Self.image, "uov_method": "Upscale (2x)", "mixing_image_prompt_and_vary_upscale": true,
        ]), fields: ["mixing_image_prompt_and_vary_upscale"], phrases: ["image prompts"])
        // An image prompt without an image asks for nothing.
        #expect(await Self.check("fooocus.inpaint", inpaint.merging(["image_prompt_1": ["weight": 1.5]]) { $1 }) == nil)
    }

    /// Prompt, styles, LoRAs and the other guidance fields are accepted (and ignored with a log line).
    @Test func guidanceFieldsAreNotRefused() async {
        let fields: [String: Any] = [
            "inpaint_image_url": Self.image, "mask_image_url": Self.image, "prompt": "a cat", "negative_prompt": "dogs",
            "styles": ["SAI Anime"], "performance": "Quality", "guidance_scale": 7, "sharpness": 3,
            "loras": [["path": "x", "scale": 0.5]], "refiner_model": "realisticVisionV60B1_v51VAE.safetensors",
            "inpaint_additional_prompt": "fur", "override_inpaint_options": true, "inpaint_engine": "v1",
        ]
        #expect(await Self.check("fooocus.inpaint", fields) == nil)
    }

    @Test func inpaintNeedsAMaskOrASide() async {
        let none = await Self.check("fooocus.inpaint", ["inpaint_image_url": Self.image])
        #expect(none?.status == 422 && fields(of: none) == ["mask_image_url"])
        #expect(none?.message.contains("nothing to inpaint") == true)
        #expect(await Self.check("fooocus.inpaint", ["inpaint_image_url": Self.image, "mask_image_url": ""]) != nil)
        #expect(await Self.check("fooocus.inpaint", ["inpaint_image_url": Self.image, "outpaint_selections": ["Bottom"]]) == nil)
        #expect(await Self.check("fooocus.inpaint", ["inpaint_image_url": Self.image, "invert_mask": true]) == nil)
    }

    @Test(arguments: ["1024", "1024x", "x8", "1001x1000", "1024*1024", "0x1024", "-8x8", "+8x8", "1024x1024x8", "99999x8", "1024×1024"])
    func badAspectRatios(_ ratio: String) async {
        let error = await Self.check("fooocus.inpaint", ["inpaint_image_url": Self.image, "mask_image_url": Self.image, "aspect_ratio": ratio])
        #expect(error?.status == 422 && fields(of: error) == ["aspect_ratio"], "\(ratio)")
    }

    @Test(arguments: ["1024x1024", "1152x896", "8x8", "704x1408"])
    func goodAspectRatios(_ ratio: String) async {
        #expect(await Self.check("fooocus.inpaint", ["inpaint_image_url": Self.image, "mask_image_url": Self.image, "aspect_ratio": ratio]) == nil)
    }

    /// The refusal follows the engine: one that can do everything lifts it (and the refuse-only handlers then say
    /// they are not implemented rather than pretend); one that can do nothing refuses inpainting too.
    @Test func refusalsFollowTheEngine() async throws {
        #expect(await Self.check("fooocus.text-to-image", [:], engine: SeedColourEngine()) == nil)
        #expect(await Self.check("fooocus.upscale-or-vary", ["uov_image_url": Self.image], engine: SeedColourEngine()) == nil)
        let run = await functionError {
            _ = try await TextToImageFunction(engine: SeedColourEngine()).run(try decodeInput(TextToImageInput.self, [:]),
                                                                               context: Harness().context(syncMode: true))
        }
        #expect(run?.status == 501)
        Self.expectCapabilityRefusal(
            await Self.check("fooocus.inpaint", ["inpaint_image_url": Self.image, "mask_image_url": Self.image, "outpaint_selections": ["Left"]],
                             engine: IncapableEngine()),
            fields: ["mask_image_url", "outpaint_selections"], phrases: ["the nothing engine", "inpainting", "outpainting"], engine: "nothing")
    }

    /// `run` refuses too, for paths that skip the submit check (`gantry run`).
    @Test func runRechecks() async throws {
        let input = try decodeInput(UpscaleOrVaryInput.self, ["uov_image_url": Self.image])
        let error = await functionError { _ = try await UpscaleOrVaryFunction().run(input, context: Harness().context(syncMode: true)) }
        #expect(error?.errorType == "capability_unavailable")
    }

    // MARK: - Errors that need the images

    static func runInpaint(_ fields: [String: Any]) async -> FunctionError? {
        await functionError {
            let input = try decodeInput(InpaintInput.self, fields)
            _ = try await InpaintFunction().run(input, context: Harness().context(syncMode: true))
        }
    }

    @Test func maskOfAnotherSize() async throws {
        let pair = try Fixtures.pair(Fixtures.overture, side: 64)
        let error = await Self.runInpaint(["inpaint_image_url": try Fixtures.dataURI(pair.image),
                                           "mask_image_url": try Fixtures.dataURI(Resample.lanczos(pair.mask, width: 32, height: 64))])
        #expect(error?.status == 422 && fields(of: error) == ["mask_image_url"])
        #expect(error?.message.contains("32×64") == true && error?.message.contains("same size") == true)
    }

    @Test func emptyMasks() async throws {
        let pair = try Fixtures.pair(Fixtures.overture, side: 64)
        let black = try Fixtures.dataURI(Image(width: 64, height: 64, channels: 3))
        let white = try Fixtures.dataURI(Image(width: 64, height: 64, channels: 3, fill: 255))
        let soft = try Fixtures.dataURI(Image(width: 64, height: 64, channels: 3, fill: 127))
        let image = try Fixtures.dataURI(pair.image)
        for extra: [String: Any] in [
            ["mask_image_url": black], ["mask_image_url": soft], ["mask_image_url": white, "invert_mask": true],
            // Eroding a small mask away empties it (override only).
            ["mask_image_url": try Fixtures.dataURI(pair.mask), "override_inpaint_options": true, "inpaint_erode_or_dilate": -64],
        ] {
            let error = await Self.runInpaint(extra.merging(["inpaint_image_url": image]) { $1 })
            #expect(error?.status == 422 && error?.errorType == "empty_mask" && fields(of: error) == ["mask_image_url"], "\(extra.keys)")
        }
        // A black mask inverted repaints everything.
        #expect(await Self.runInpaint(["inpaint_image_url": image, "mask_image_url": black, "invert_mask": true,
                                       "inpaint_mode": "Improve Detail (face, hand, eyes, etc.)"]) == nil)
    }

    @Test func unusableImages() async throws {
        let mask = try Fixtures.dataURI(Image(width: 8, height: 8, channels: 3, fill: 255))
        let gif = "data:image/gif;base64,\(Data("GIF89a\u{1}\u{0}\u{1}\u{0}".utf8).base64EncodedString())"
        let notImage = await Self.runInpaint(["inpaint_image_url": gif, "mask_image_url": mask])
        #expect(notImage?.status == 422 && fields(of: notImage) == ["inpaint_image_url"])
        #expect(notImage?.message.contains("GIF") == true)
        let badMask = await Self.runInpaint(["inpaint_image_url": mask, "mask_image_url": "data:image/png;base64,iVBORw0KGgo="])
        #expect(badMask?.status == 422 && fields(of: badMask) == ["mask_image_url"])
        let unreachable = await Self.runInpaint(["inpaint_image_url": "https://example.invalid/x.png", "mask_image_url": mask])
        #expect(unreachable?.status == 422 && fields(of: unreachable) == ["inpaint_image_url"])
    }
}
