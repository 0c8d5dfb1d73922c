import Foundation
import GantryCore
import Imaging

/// `uov_method`: Fooocus's upscale-or-vary choices.
public enum UovMethod: String, Codable, Sendable, CaseIterable {
    case disabled = "Disabled"
    case varySubtle = "Vary (Subtle)"
    case varyStrong = "Vary (Strong)"
    case upscale15 = "Upscale (1.5x)"
    case upscale2 = "Upscale (2x)"
    case upscaleFast2 = "Upscale (Fast 2x)"

    /// The capability it needs; nil for Disabled.
    public var capability: EngineCapability? {
        switch self {
        case .disabled: nil
        case .varySubtle, .varyStrong: .vary
        case .upscale15, .upscale2, .upscaleFast2: .upscale
        }
    }
}

/// The input of `fal-ai/fooocus/upscale-or-vary` (schemas/fooocus/upscale-or-vary.input.json).
public struct UpscaleOrVaryInput: Codable, Sendable, Equatable, EngineRequest {
    public static let endpoint = "fal-ai/fooocus/upscale-or-vary"

    public var generation: GenerationFields
    public var imagePrompts: ImagePromptFields
    public var uovImageURL: String
    /// fal's default is Vary (Strong).
    public var uovMethod: UovMethod
    public var mixingImagePromptAndVaryUpscale: Bool

    enum CodingKeys: String, CodingKey {
        case uovImageURL = "uov_image_url", uovMethod = "uov_method"
        case mixingImagePromptAndVaryUpscale = "mixing_image_prompt_and_vary_upscale"
    }

    public init(from decoder: any Decoder) throws {
        generation = try GenerationFields(from: decoder)
        imagePrompts = try ImagePromptFields(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        uovImageURL = try c.decode(String.self, forKey: .uovImageURL)
        uovMethod = try c.decodeIfPresent(UovMethod.self, forKey: .uovMethod) ?? .varyStrong
        mixingImagePromptAndVaryUpscale = try c.decodeIfPresent(Bool.self, forKey: .mixingImagePromptAndVaryUpscale) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        try generation.encode(to: encoder)
        try imagePrompts.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(uovImageURL, forKey: .uovImageURL)
        try c.encode(uovMethod, forKey: .uovMethod)
        try c.encode(mixingImagePromptAndVaryUpscale, forKey: .mixingImagePromptAndVaryUpscale)
    }

    /// What the request asks the engine for.
    public var requirements: [Requirement] {
        let method = uovMethod.capability.map { [Requirement($0, field: "uov_method")] } ?? []
        return method + Requirements.imagePrompts(imagePrompts, mixing: [("mixing_image_prompt_and_vary_upscale", mixingImagePromptAndVaryUpscale)])
    }

    /// The submit-time checks that need no image.
    public func validate() throws(FunctionError) {
        try generation.validateAspectRatio()
        if uovMethod == .disabled {
            throw .input(field: ["uov_method"], code: "value_error",
                         message: "uov_method is Disabled: nothing to do; choose an Upscale or Vary method")
        }
    }
}

/// `fal-ai/fooocus/upscale-or-vary`: Fooocus's upscale sizing with a LANCZOS stand-in for ESRGAN. Vary needs a
/// diffusion engine and is refused at submit by engines without ``EngineCapability/vary``.
public struct UpscaleOrVaryFunction: HostedFunction {
    public typealias Input = UpscaleOrVaryInput
    public typealias Output = FooocusOutput

    let engine: any ImageEngine
    let limits: DecodeLimits

    public init(engine: any ImageEngine = ReferenceEngine(), limits: DecodeLimits = .init()) {
        self.engine = engine
        self.limits = limits
    }

    public static var checksAtSubmit: Bool { true }

    public func check(_ input: UpscaleOrVaryInput) throws {
        try Requirements.check(input, engine: engine)
    }

    public func run(_ input: UpscaleOrVaryInput, context: RunContext) async throws -> FooocusOutput {
        try check(input)
        guard input.uovMethod.capability == .upscale else {
            // An engine that declares `.vary` needs a vary path here first; none exists yet.
            throw FunctionError.failed("\(input.uovMethod.rawValue) is not implemented for the \(engine.name) engine",
                                       errorType: "not_implemented", status: 501)
        }
        var clock = PhaseClock()
        let seed = FunctionSupport.seed(input.generation.seed)
        await FunctionSupport.logIgnoredFields(input.generation, engine: engine, context: context)
        let image = try await clock.measure("fetch") {
            try await FunctionSupport.fetchImage(input.uovImageURL, field: "uov_image_url", context: context, limits: limits)
        }
        await context.progress(0.1)
        try Task.checkCancellation()

        let method = input.uovMethod.rawValue
        let (sized, sizing) = try await clock.measure("engine") { () async throws -> (Image, UpscaleSizing) in
            try await Compute.shared.run {
                do {
                    return try UpscaleSizing.upscale(image, method: method, upscaler: LanczosUpscaler(scale: 4))
                } catch let error as FooocusError {
                    throw FunctionError.stage(error, field: "uov_image_url")
                }
            }
        }
        await context.progress(0.6)
        try Task.checkCancellation()
        // Fooocus's non-direct upscales diffuse at the VAE-cropped size, so that is their output size.
        var result = sized
        if !sizing.isDirect {
            result = await clock.measure("finish") { await Compute.shared.run { VAECrop.crop(sized) } }
            await context.log("\(method) runs diffusion in Fooocus (denoise 0.382); the \(engine.name) engine returns the "
                              + "LANCZOS-sized image without it (LANCZOS 4x stands in for ESRGAN)")
        }
        await context.log("\(method): \(image.width)×\(image.height) → \(result.width)×\(result.height)")

        let format = input.generation.outputFormat
        let output = result
        let encoded = try await clock.measure("encode") { try await Compute.shared.run { try FunctionSupport.encode(output, as: format) } }
        try Task.checkCancellation()
        // The upscale does not depend on the seed, so every image is the same bytes, stored once per image.
        var records: [ImageRecord] = []
        for _ in 0..<input.generation.numImages {
            records.append(try await FunctionSupport.store(encoded, size: result, context: context))
        }
        await context.progress(1)
        return FooocusOutput(images: records, timings: clock.timings(), hasNSFWConcepts: records.map { _ in false }, seed: seed)
    }
}
