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
    /// By `upscale_value` (a Gantry extension of the fal function; Fooocus-API and FooocusAPI take a factor).
    case upscaleCustom = "Upscale (Custom)"

    /// The capability it needs; nil for Disabled.
    public var capability: EngineCapability? {
        switch self {
        case .disabled: nil
        case .varySubtle, .varyStrong: .vary
        case .upscale15, .upscale2, .upscaleFast2, .upscaleCustom: .upscale
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
    /// The factor of `Upscale (Custom)`, 1…5 (a Gantry extension); the other methods ignore it.
    public var upscaleValue: Double?

    enum CodingKeys: String, CodingKey {
        case uovImageURL = "uov_image_url", uovMethod = "uov_method", upscaleValue = "upscale_value"
        case mixingImagePromptAndVaryUpscale = "mixing_image_prompt_and_vary_upscale"
    }

    public init(from decoder: any Decoder) throws {
        generation = try GenerationFields(from: decoder)
        imagePrompts = try ImagePromptFields(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        uovImageURL = try c.decode(String.self, forKey: .uovImageURL)
        uovMethod = try c.decodeIfPresent(UovMethod.self, forKey: .uovMethod) ?? .varyStrong
        mixingImagePromptAndVaryUpscale = try c.decodeIfPresent(Bool.self, forKey: .mixingImagePromptAndVaryUpscale) ?? false
        upscaleValue = try c.decodeIfPresent(Double.self, forKey: .upscaleValue)
    }

    public func encode(to encoder: any Encoder) throws {
        try generation.encode(to: encoder)
        try imagePrompts.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(uovImageURL, forKey: .uovImageURL)
        try c.encode(uovMethod, forKey: .uovMethod)
        try c.encode(mixingImagePromptAndVaryUpscale, forKey: .mixingImagePromptAndVaryUpscale)
        try c.encodeIfPresent(upscaleValue, forKey: .upscaleValue)
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
        if uovMethod == .upscaleCustom {
            guard let value = upscaleValue else {
                throw .input(field: ["upscale_value"], code: "missing", message: "Field required: Upscale (Custom) needs upscale_value (1 to 5)")
            }
            guard value.isFinite, (1...5).contains(value) else {
                throw .input(field: ["upscale_value"], code: "value_error", message: "upscale_value must be between 1 and 5")
            }
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

    /// The scale factor of an upscale request.
    static func factor(of input: UpscaleOrVaryInput) -> Double {
        switch input.uovMethod {
        case .upscale15: 1.5
        case .upscaleCustom: input.upscaleValue ?? 1
        default: 2
        }
    }

    /// Refuses an upscale whose result, or the 4× super-resolved intermediate it is sized from, would exceed what the
    /// host accepts as an image (`limits`, 4× the pixels for the intermediate): a 422 naming the input, not an
    /// allocation of gigabytes.
    static func checkOutputSize(_ image: Image, factor: Double, limits: DecodeLimits) throws(FunctionError) {
        let width = Int((Double(image.width) * factor).rounded(.up)), height = Int((Double(image.height) * factor).rounded(.up))
        let intermediate = image.width * image.height * 16
        guard width * height <= limits.maxPixels, width <= limits.maxSide, height <= limits.maxSide,
              intermediate <= limits.maxPixels * 4 else {
            throw .input(field: ["uov_image_url"], code: "image_too_large",
                         message: "upscaling the \(image.width)×\(image.height) image by \(factor) is too large: the result may have at most \(limits.maxPixels) pixels and \(limits.maxSide) per side, and the input at most \(limits.maxPixels / 4) pixels")
        }
    }

    /// `2` for 2.0, `1.25` for 1.25: the factor as a method name spells it.
    static func factorText(_ value: Double) -> String {
        value.rounded() == value ? String(Int(value)) : String(value)
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
        try Self.checkOutputSize(image, factor: Self.factor(of: input), limits: limits)

        let method = input.uovMethod == .upscaleCustom ? "Upscale (\(input.upscaleValue.map(Self.factorText) ?? "?")x)" : input.uovMethod.rawValue
        let (sized, sizing) = try await clock.measure("engine") { () async throws -> (Image, UpscaleSizing) in
            try await Compute.shared.run {
                do {
                    if input.uovMethod == .upscaleCustom, let factor = input.upscaleValue {
                        return try UpscaleSizing.upscale(image, factor: factor, upscaler: LanczosUpscaler(scale: 4))
                    }
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
