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

    /// `Upscale (Custom)` by `upscale_value` (a Gantry extension) follows UpscaleSizing with that exact factor, 5
    /// included (Fooocus-API's own rule would read 5 as 2; its surface resolves that before the function).
    @Test(arguments: [(3.0, 97, 71), (5.0, 200, 240)])
    func customFactor(_ c: (Double, Int, Int)) async throws {
        let source = Resample.lanczos(try Fixtures.pair(Fixtures.alex).image, width: c.1, height: c.2)
        let (output, harness) = try await Self.run(["uov_image_url": try Fixtures.dataURI(source), "uov_method": "Upscale (Custom)",
                                                     "upscale_value": c.0, "output_format": "png"])
        let result = try await harness.image(of: try #require(output.images.first))
        let planned = try UpscaleSizing.upscale(source, factor: c.0, upscaler: LanczosUpscaler(scale: 4))
        #expect(planned.sizing.factor == c.0 && !planned.sizing.isDirect)
        #expect(result == VAECrop.crop(planned.image), "\(c)")
        if c.0 == 5 { #expect(result.width == 1000 && result.height == 1200) }
        #expect(await harness.reporter.messages.contains { $0.contains("Upscale (\(Int(c.0))x)") })
    }

    /// `Upscale (Custom)` needs `upscale_value` (checked at submit); the other methods ignore it.
    /// An upscale whose result or 4× intermediate would exceed the image limits is a 422 naming the input.
    @Test func oversizedUpscalesAreRefused() throws {
        let limits = DecodeLimits(maxPixels: 40_000, maxSide: 300)
        let image = Image(width: 40, height: 40, channels: 3)
        #expect(throws: Never.self) { try UpscaleOrVaryFunction.checkOutputSize(image, factor: 5, limits: limits) }
        do {
            try UpscaleOrVaryFunction.checkOutputSize(Image(width: 60, height: 40, channels: 3), factor: 5, limits: limits)
            Issue.record("a 300×200 result over 40,000 pixels passed")
        } catch {
            #expect(error.status == 422)
        }
        #expect(throws: FunctionError.self) { try UpscaleOrVaryFunction.checkOutputSize(Image(width: 110, height: 110, channels: 3), factor: 1, limits: limits) }
    }

    @Test func customFactorIsRequired() async throws {
        let function = FooocusFunctions.handlers()["fooocus.upscale-or-vary"]!
        let missing = await functionError {
            try function.check(input: JSONSerialization.data(withJSONObject: ["uov_image_url": "x", "uov_method": "Upscale (Custom)"]))
        }
        #expect(missing?.status == 422 && fields(of: missing) == ["upscale_value"])
        try function.check(input: JSONSerialization.data(withJSONObject: ["uov_image_url": "x", "uov_method": "Upscale (2x)", "upscale_value": 3]))
        let validator = SchemaValidator(schema: try FunctionsSchemaTests.schema("upscale-or-vary.input.json"))
        guard case .failure = validator.validate(.object(["uov_image_url": .string("x"), "upscale_value": .number(5.5)])) else {
            Issue.record("upscale_value 5.5 passed the schema")
            return
        }
        let inpaint = SchemaValidator(schema: try FunctionsSchemaTests.schema("inpaint.input.json"))
        for bad in [-1.0, 2049, 1.5] {
            guard case .failure(let failure) = inpaint.validate(.object(["inpaint_image_url": .string("x"), "outpaint_distance_left": .number(bad)])) else {
                Issue.record("outpaint_distance_left \(bad) passed the schema")
                continue
            }
            #expect(failure.issues.first?.loc.dropFirst().first == .string("outpaint_distance_left"))
        }
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
