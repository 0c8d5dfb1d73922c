import Foundation
import GantryCore

/// The input of `fal-ai/fooocus` (schemas/fooocus/text-to-image.input.json): the generation fields plus a
/// control image and an optional inpaint image.
public struct TextToImageInput: Codable, Sendable, Equatable {
    public var generation: GenerationFields
    public var controlImageURL: String?
    public var controlType: String
    public var controlImageWeight: Double
    public var controlImageStopAt: Double
    public var inpaintImageURL: String?
    public var maskImageURL: String?
    public var mixingImagePromptAndInpaint: Bool

    enum CodingKeys: String, CodingKey {
        case controlImageURL = "control_image_url", controlType = "control_type"
        case controlImageWeight = "control_image_weight", controlImageStopAt = "control_image_stop_at"
        case inpaintImageURL = "inpaint_image_url", maskImageURL = "mask_image_url"
        case mixingImagePromptAndInpaint = "mixing_image_prompt_and_inpaint"
    }

    public init(from decoder: any Decoder) throws {
        generation = try GenerationFields(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        controlImageURL = try c.decodeIfPresent(String.self, forKey: .controlImageURL)
        controlType = try c.decodeIfPresent(String.self, forKey: .controlType) ?? "PyraCanny"
        controlImageWeight = try c.decodeIfPresent(Double.self, forKey: .controlImageWeight) ?? 1
        controlImageStopAt = try c.decodeIfPresent(Double.self, forKey: .controlImageStopAt) ?? 1
        inpaintImageURL = try c.decodeIfPresent(String.self, forKey: .inpaintImageURL)
        maskImageURL = try c.decodeIfPresent(String.self, forKey: .maskImageURL)
        mixingImagePromptAndInpaint = try c.decodeIfPresent(Bool.self, forKey: .mixingImagePromptAndInpaint) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        try generation.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(controlImageURL, forKey: .controlImageURL)
        try c.encode(controlType, forKey: .controlType)
        try c.encode(controlImageWeight, forKey: .controlImageWeight)
        try c.encode(controlImageStopAt, forKey: .controlImageStopAt)
        try c.encodeIfPresent(inpaintImageURL, forKey: .inpaintImageURL)
        try c.encodeIfPresent(maskImageURL, forKey: .maskImageURL)
        try c.encode(mixingImagePromptAndInpaint, forKey: .mixingImagePromptAndInpaint)
    }

    /// What the request asks the engine for: text-to-image always.
    public var requirements: [Requirement] {
        var needs = [Requirement(.textToImage, field: "prompt")]
        if !(controlImageURL ?? "").isEmpty { needs.append(Requirement(.imagePrompt, field: "control_image_url")) }
        if mixingImagePromptAndInpaint { needs.append(Requirement(.imagePrompt, field: "mixing_image_prompt_and_inpaint")) }
        if !(inpaintImageURL ?? "").isEmpty { needs.append(Requirement(.inpaint, field: "inpaint_image_url")) }
        return needs
    }
}

/// `fal-ai/fooocus`: text-to-image generation. It needs a diffusion engine with ``EngineCapability/textToImage``;
/// until one is configured every request is refused at submit.
public struct TextToImageFunction: HostedFunction {
    public typealias Input = TextToImageInput
    public typealias Output = FooocusOutput

    let engine: any ImageEngine

    public init(engine: any ImageEngine = ReferenceEngine()) {
        self.engine = engine
    }

    public static var checksAtSubmit: Bool { true }

    public func check(_ input: TextToImageInput) throws {
        try input.generation.validateAspectRatio()
        try Requirements.refuseMissing(input.requirements, engine: engine)
    }

    public func run(_ input: TextToImageInput, context: RunContext) async throws -> FooocusOutput {
        try check(input)
        throw FunctionError.failed("fal-ai/fooocus is not implemented for the \(engine.name) engine",
                                   errorType: "not_implemented", status: 501)
    }
}
