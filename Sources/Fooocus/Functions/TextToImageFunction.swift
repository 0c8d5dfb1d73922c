import Foundation
import GantryCore

/// The input of `fal-ai/fooocus` (schemas/fooocus/text-to-image.input.json): the generation fields plus a
/// control image and an optional inpaint image.
public struct TextToImageInput: Codable, Sendable, Equatable, EngineRequest {
    public static let endpoint = "fal-ai/fooocus"

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

/// `fal-ai/fooocus`: text-to-image generation; refused at submit until an engine declares what it needs.
public typealias TextToImageFunction = DiffusionOnlyFunction<TextToImageInput>

extension TextToImageInput {
    /// The submit-time checks that need no image: the aspect ratio.
    public func validate() throws(FunctionError) {
        try generation.validateAspectRatio()
    }
}
