import Foundation
import GantryCore

/// The input of `fal-ai/fooocus/image-prompt` (schemas/fooocus/image-prompt.input.json): the generation fields,
/// the image prompts (the first required), and the inpaint and upscale-or-vary fields it also accepts.
public struct ImagePromptInput: Codable, Sendable, Equatable, EngineRequest {
    public static let endpoint = "fal-ai/fooocus/image-prompt"

    public var generation: GenerationFields
    public var imagePrompts: ImagePromptFields
    public var inpaintImageURL: String?
    public var maskImageURL: String?
    public var inpaintMode: InpaintMode
    public var inpaintAdditionalPrompt: String
    public var outpaintSelections: [String]
    public var mixingImagePromptAndInpaint: Bool
    public var uovImageURL: String?
    /// Disabled by default here (unlike upscale-or-vary).
    public var uovMethod: UovMethod
    public var mixingImagePromptAndVaryUpscale: Bool

    enum CodingKeys: String, CodingKey {
        case inpaintImageURL = "inpaint_image_url", maskImageURL = "mask_image_url", inpaintMode = "inpaint_mode"
        case inpaintAdditionalPrompt = "inpaint_additional_prompt", outpaintSelections = "outpaint_selections"
        case mixingImagePromptAndInpaint = "mixing_image_prompt_and_inpaint"
        case uovImageURL = "uov_image_url", uovMethod = "uov_method"
        case mixingImagePromptAndVaryUpscale = "mixing_image_prompt_and_vary_upscale"
    }

    public init(from decoder: any Decoder) throws {
        generation = try GenerationFields(from: decoder)
        imagePrompts = try ImagePromptFields(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        inpaintImageURL = try c.decodeIfPresent(String.self, forKey: .inpaintImageURL)
        maskImageURL = try c.decodeIfPresent(String.self, forKey: .maskImageURL)
        inpaintMode = try c.decodeIfPresent(InpaintMode.self, forKey: .inpaintMode) ?? .inpaintOrOutpaint
        inpaintAdditionalPrompt = try c.decodeIfPresent(String.self, forKey: .inpaintAdditionalPrompt) ?? ""
        outpaintSelections = try c.decodeIfPresent([String].self, forKey: .outpaintSelections) ?? []
        mixingImagePromptAndInpaint = try c.decodeIfPresent(Bool.self, forKey: .mixingImagePromptAndInpaint) ?? false
        uovImageURL = try c.decodeIfPresent(String.self, forKey: .uovImageURL)
        uovMethod = try c.decodeIfPresent(UovMethod.self, forKey: .uovMethod) ?? .disabled
        mixingImagePromptAndVaryUpscale = try c.decodeIfPresent(Bool.self, forKey: .mixingImagePromptAndVaryUpscale) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        try generation.encode(to: encoder)
        try imagePrompts.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(inpaintImageURL, forKey: .inpaintImageURL)
        try c.encodeIfPresent(maskImageURL, forKey: .maskImageURL)
        try c.encode(inpaintMode, forKey: .inpaintMode)
        try c.encode(inpaintAdditionalPrompt, forKey: .inpaintAdditionalPrompt)
        try c.encode(outpaintSelections, forKey: .outpaintSelections)
        try c.encode(mixingImagePromptAndInpaint, forKey: .mixingImagePromptAndInpaint)
        try c.encodeIfPresent(uovImageURL, forKey: .uovImageURL)
        try c.encode(uovMethod, forKey: .uovMethod)
        try c.encode(mixingImagePromptAndVaryUpscale, forKey: .mixingImagePromptAndVaryUpscale)
    }

    /// What the request asks the engine for: image prompts always (the endpoint's purpose), plus whatever the
    /// inpaint and upscale-or-vary fields add.
    public var requirements: [Requirement] {
        var needs = [Requirement(.imagePrompt, field: imagePrompts.active.first?.field ?? "image_prompt_1")]
        if !(inpaintImageURL ?? "").isEmpty {
            if !(maskImageURL ?? "").isEmpty { needs.append(Requirement(.inpaint, field: "mask_image_url")) }
            if !outpaintSelections.isEmpty { needs.append(Requirement(.outpaint, field: "outpaint_selections")) }
        }
        if !(uovImageURL ?? "").isEmpty, let capability = uovMethod.capability {
            needs.append(Requirement(capability, field: "uov_method"))
        }
        return needs
    }
}

/// `fal-ai/fooocus/image-prompt`: generation conditioned on image prompts; refused at submit until an engine declares what it needs.
public typealias ImagePromptFunction = DiffusionOnlyFunction<ImagePromptInput>

extension ImagePromptInput {
    /// The submit-time checks that need no image: the aspect ratio.
    public func validate() throws(FunctionError) {
        try generation.validateAspectRatio()
    }
}
