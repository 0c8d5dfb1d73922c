import Foundation
@testable import Fooocus
import GantryCore
import Imaging
import Testing

/// An engine with a (fake) isnet-anime model: paints the left half white.
struct HalfMaskEngine: MaskEngine {
    let name = "half-mask"
    let capabilities: Set<EngineCapability> = [.inpaint, .foregroundMask]
    let maskModels: Set<MaskModel> = [.isnetAnime]
    func inpaint(_ task: InpaintTask, progress: @escaping @Sendable (Double) async -> Void) async throws -> Image { throw CancellationError() }
    func mask(_ image: Image, request: MaskRequest) async throws -> Image {
        var mask = Image(width: image.width, height: image.height, channels: 1, fill: 0)
        for y in 0..<image.height { for x in 0..<image.width / 2 { mask.pixels[y * image.width + x] = 255 } }
        return mask
    }
}

/// An engine that captions everything the same way.
struct FixedCaptionEngine: CaptionEngine {
    let name = "fixed-caption"
    let capabilities: Set<EngineCapability> = [.imageCaptioning]
    func inpaint(_ task: InpaintTask, progress: @escaping @Sendable (Double) async -> Void) async throws -> Image { throw CancellationError() }
    func describe(_ image: Image, style: DescribeStyle) async throws -> String { "\(style.rawValue): \(image.width)×\(image.height)" }
}

/// The generate-mask and describe-image functions: which engine or fallback answers, and what is refused.
@Suite("Segmentation: functions")
struct SegmentationFunctionTests {
    static func maskInput(_ model: String, extra: [String: Any] = [:]) throws -> GenerateMaskFunction.Input {
        let image = Image(width: 24, height: 16, channels: 3, fill: 100)
        return try decodeInput(GenerateMaskFunction.Input.self,
                               ["image_url": try Fixtures.dataURI(image), "mask_model": model, "sync_mode": true].merging(extra) { $1 })
    }

    @Test func referenceEngineRefusesEveryModelButIsnetGeneralUse() async throws {
        let function = GenerateMaskFunction()
        for model in MaskModel.allCases {
            let error = await functionError { try function.check(try Self.maskInput(model.rawValue)) }
            if model == .isnetGeneralUse {
                #expect(error == nil)
            } else {
                let refusal = try #require(error, "\(model) accepted")
                #expect(refusal.status == 422 && refusal.errorType == "capability_unavailable")
                #expect(refusal.message.hasPrefix("mask_model: the reference engine cannot do"))
                #expect(refusal.message.contains("'\(model.rawValue)'") && refusal.message.contains(model.capability.rawValue))
            }
        }
    }

    @Test func withoutTheFallbackIsnetGeneralUseIsRefusedToo() async throws {
        let function = GenerateMaskFunction(fallback: .refuse)
        let error = try #require(await functionError { try function.check(try Self.maskInput("isnet-general-use")) })
        #expect(error.errorType == "capability_unavailable" && error.message.contains("isnet-general-use"))
        #expect(!error.message.contains("GrabCut"))
        let harness = Harness()
        let run = await functionError { _ = try await function.run(try Self.maskInput("isnet-general-use"), context: harness.context(syncMode: true)) }
        #expect(run?.errorType == "capability_unavailable")
    }

    @Test func grabCutAnswersIsnetGeneralUseAndSaysSo() async throws {
        let harness = Harness()
        let output = try await GenerateMaskFunction().run(try Self.maskInput("isnet-general-use"), context: harness.context(syncMode: true))
        #expect(output.method == "grabcut-centred-box" && output.maskModel == .isnetGeneralUse)
        let png = try await harness.bytes(of: output.image)
        #expect(png[png.startIndex + 25] == 0, "a gray PNG")
        let mask = try await harness.image(of: output.image)
        #expect(mask.width == 24 && mask.height == 16)
        #expect(await harness.reporter.messages.contains { $0.contains("GrabCut") && $0.contains("centred box") })
        #expect(output.timings["segment"] != nil && output.timings["total"] != nil)
    }

    @Test func anEngineWithTheModelServesIt() async throws {
        let function = GenerateMaskFunction(engine: HalfMaskEngine())
        let harness = Harness()
        let output = try await function.run(try Self.maskInput("isnet-anime"), context: harness.context(syncMode: true))
        #expect(output.method == "model")
        let mask = try await harness.image(of: output.image).channel(0)
        #expect(mask.pixels[0] == 255 && mask.pixels[23] == 0)
        // It does not have u2net; isnet-general-use still falls back to GrabCut.
        #expect(await functionError { try function.check(try Self.maskInput("u2net")) }?.errorType == "capability_unavailable")
        #expect(try await function.run(try Self.maskInput("isnet-general-use"), context: harness.context(syncMode: true)).method == "grabcut-centred-box")
        // Claiming the capability without being a MaskEngine serves nothing.
        #expect(!MaskModel.isnetAnime.isServed(by: SeedColourEngine()))
    }

    @Test func modelSpecificFieldsAreCheckedForTheirModelOnly() async throws {
        let function = GenerateMaskFunction(engine: HalfMaskEngine())
        let cloth = await functionError { try function.check(try Self.maskInput("u2net_cloth_seg", extra: ["cloth_category": "socks"])) }
        #expect(cloth?.message.hasPrefix("cloth_category:") == true)
        let sam = await functionError { try function.check(try Self.maskInput("sam", extra: ["sam_model": "vit_x"])) }
        #expect(sam?.message.hasPrefix("sam_model:") == true)
        #expect(await functionError { try function.check(try Self.maskInput("isnet-anime", extra: ["cloth_category": "socks", "sam_model": "x"])) } == nil)
    }

    @Test func describeImageRefusesWithoutACaptioner() async throws {
        let image = try Fixtures.dataURI(Image(width: 8, height: 8, channels: 3, fill: 50))
        let input = try decodeInput(DescribeImageFunction.Input.self, ["image_url": image, "image_type": "Anime"])
        let error = try #require(await functionError { try DescribeImageFunction().check(input) })
        #expect(error.status == 422 && error.errorType == "capability_unavailable")
        #expect(error.message.contains("reference engine") && error.message.contains("'image-captioning'") && error.message.contains("WD14"))
        let harness = Harness()
        let output = try await DescribeImageFunction(engine: FixedCaptionEngine()).run(input, context: harness.context(syncMode: true))
        #expect(output.describe == "Anime: 8×8")
    }
}
