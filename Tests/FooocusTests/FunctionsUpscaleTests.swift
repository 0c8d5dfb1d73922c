import Foundation
@testable import Fooocus
import GantryCore
import Imaging
import Testing

/// `fal-ai/fooocus/upscale-or-vary` run directly: Fooocus's upscale sizing with the LANCZOS stand-in.
@Suite("Fooocus upscale-or-vary function")
struct FunctionsUpscaleTests {
    static func run(_ fields: [String: Any], syncMode: Bool = true) async throws -> (FooocusOutput, Harness) {
        let harness = Harness()
        let input = try decodeInput(UpscaleOrVaryInput.self, fields)
        return (try await UpscaleOrVaryFunction().run(input, context: harness.context(syncMode: syncMode)), harness)
    }

    /// Sizes and pixels follow UpscaleSizing (plus the VAE crop where Fooocus would diffuse).
    /// Cases: shape ceil below 1024 (resized from the 4× stand-in's size), fast and not; at or above 1024 (LANCZOS to
    /// int(W·f) × int(H·f), then the VAE crop to 1024×1024 from 1030×1026).
    @Test(arguments: [("Upscale (Fast 2x)", 96, 72), ("Upscale (2x)", 97, 71), ("Upscale (1.5x)", 61, 83), ("Upscale (2x)", 515, 513)])
    func upscales(_ c: (String, Int, Int)) async throws {
        let source = Resample.lanczos(try Fixtures.pair(Fixtures.alex).image, width: c.1, height: c.2)
        let (output, harness) = try await Self.run(["uov_image_url": try Fixtures.dataURI(source), "uov_method": c.0,
                                                     "output_format": "png", "seed": 5])
        let result = try await harness.image(of: try #require(output.images.first))
        let planned = try UpscaleSizing.upscale(source, method: c.0, upscaler: LanczosUpscaler(scale: 4))
        let expected = planned.sizing.isDirect ? planned.image : VAECrop.crop(planned.image)
        #expect(result == expected, "\(c)")
        if let height = planned.sizing.vaeHeight, let width = planned.sizing.vaeWidth {
            #expect(result.height == height && result.width == width)
            #expect(await harness.reporter.messages.contains { $0.contains("runs diffusion in Fooocus") })
        } else {
            #expect(result.height == planned.sizing.height && result.width == planned.sizing.width)
        }
        #expect(output.seed == 5 && output.hasNSFWConcepts == [false])
    }

    @Test func numImagesAndFormats() async throws {
        let source = try Fixtures.pair(Fixtures.overture, side: 64).image
        let (output, harness) = try await Self.run(["uov_image_url": try Fixtures.dataURI(source), "uov_method": "Upscale (Fast 2x)",
                                                     "num_images": 3], syncMode: false)
        #expect(output.images.count == 3 && output.hasNSFWConcepts == [false, false, false])
        #expect(Set(output.images.map(\.url)).count == 3)
        #expect(output.images.allSatisfy { $0.contentType == "image/jpeg" && $0.width == 1024 && $0.height == 1024 })
        #expect(Set(output.timings.keys) == ["fetch", "engine", "encode", "total"])
        _ = try await harness.image(of: output.images[2])
    }

    @Test func badImageNamesTheField() async throws {
        let error = await functionError {
            _ = try await Self.run(["uov_image_url": "data:image/png;base64,AAAA", "uov_method": "Upscale (2x)"])
        }
        #expect(error?.status == 422 && fields(of: error) == ["uov_image_url"])
    }
}
