import Foundation
import GantryCore

/// Fooocus's three inpaint presets (`webui.py inpaint_mode_change`, docs/fooocus.md §3.1).
public enum InpaintMode: String, Codable, Sendable, CaseIterable {
    case inpaintOrOutpaint = "Inpaint or Outpaint (default)"
    case improveDetail = "Improve Detail (face, hand, eyes, etc.)"
    case modifyContent = "Modify Content (add objects, change background, etc.)"

    /// Denoise strength of the preset.
    public var strength: Double { self == .improveDetail ? 0.5 : 1.0 }
    /// Respective field of the preset.
    public var respectiveField: Double { self == .inpaintOrOutpaint ? 0.618 : 0.0 }
}

/// The input of `fal-ai/fooocus/inpaint` (schemas/fooocus/inpaint.input.json).
public struct InpaintInput: Codable, Sendable, Equatable, EngineRequest {
    public static let endpoint = "fal-ai/fooocus/inpaint"

    public var generation: GenerationFields
    public var imagePrompts: ImagePromptFields
    public var inpaintImageURL: String
    public var maskImageURL: String?
    public var inpaintMode: InpaintMode
    public var inpaintAdditionalPrompt: String
    /// `Left`, `Right`, `Top`, `Bottom` (the schema's enum).
    public var outpaintSelections: [String]
    /// Per-side outpaint distances (a Gantry extension, `outpaint_distance_left/top/right/bottom`); 0 keeps
    /// Fooocus's default of `int(0.3 · side)`.
    public var outpaintDistances: OutpaintDistances
    public var overrideInpaintOptions: Bool
    public var inpaintDisableInitialLatent: Bool
    public var inpaintEngine: String
    public var inpaintStrength: Double
    public var inpaintRespectiveField: Double
    public var inpaintErodeOrDilate: Double
    public var invertMask: Bool
    public var debuggingInpaintPreprocessor: Bool
    public var mixingImagePromptAndInpaint: Bool

    enum CodingKeys: String, CodingKey {
        case inpaintImageURL = "inpaint_image_url", maskImageURL = "mask_image_url", inpaintMode = "inpaint_mode"
        case inpaintAdditionalPrompt = "inpaint_additional_prompt", outpaintSelections = "outpaint_selections"
        case overrideInpaintOptions = "override_inpaint_options"
        case inpaintDisableInitialLatent = "inpaint_disable_initial_latent", inpaintEngine = "inpaint_engine"
        case inpaintStrength = "inpaint_strength", inpaintRespectiveField = "inpaint_respective_field"
        case inpaintErodeOrDilate = "inpaint_erode_or_dilate", invertMask = "invert_mask"
        case debuggingInpaintPreprocessor = "debugging_inpaint_preprocessor"
        case mixingImagePromptAndInpaint = "mixing_image_prompt_and_inpaint"
        case outpaintDistanceLeft = "outpaint_distance_left", outpaintDistanceTop = "outpaint_distance_top"
        case outpaintDistanceRight = "outpaint_distance_right", outpaintDistanceBottom = "outpaint_distance_bottom"
    }

    public init(from decoder: any Decoder) throws {
        generation = try GenerationFields(from: decoder)
        imagePrompts = try ImagePromptFields(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        inpaintImageURL = try c.decode(String.self, forKey: .inpaintImageURL)
        maskImageURL = try c.decodeIfPresent(String.self, forKey: .maskImageURL)
        inpaintMode = try c.decodeIfPresent(InpaintMode.self, forKey: .inpaintMode) ?? .inpaintOrOutpaint
        inpaintAdditionalPrompt = try c.decodeIfPresent(String.self, forKey: .inpaintAdditionalPrompt) ?? ""
        outpaintSelections = try c.decodeIfPresent([String].self, forKey: .outpaintSelections) ?? []
        outpaintDistances = OutpaintDistances(
            left: try c.decodeIfPresent(Int.self, forKey: .outpaintDistanceLeft) ?? 0,
            top: try c.decodeIfPresent(Int.self, forKey: .outpaintDistanceTop) ?? 0,
            right: try c.decodeIfPresent(Int.self, forKey: .outpaintDistanceRight) ?? 0,
            bottom: try c.decodeIfPresent(Int.self, forKey: .outpaintDistanceBottom) ?? 0)
        overrideInpaintOptions = try c.decodeIfPresent(Bool.self, forKey: .overrideInpaintOptions) ?? false
        inpaintDisableInitialLatent = try c.decodeIfPresent(Bool.self, forKey: .inpaintDisableInitialLatent) ?? false
        inpaintEngine = try c.decodeIfPresent(String.self, forKey: .inpaintEngine) ?? "v2.6"
        inpaintStrength = try c.decodeIfPresent(Double.self, forKey: .inpaintStrength) ?? 1
        inpaintRespectiveField = try c.decodeIfPresent(Double.self, forKey: .inpaintRespectiveField) ?? 0.618
        inpaintErodeOrDilate = try c.decodeIfPresent(Double.self, forKey: .inpaintErodeOrDilate) ?? 0
        invertMask = try c.decodeIfPresent(Bool.self, forKey: .invertMask) ?? false
        debuggingInpaintPreprocessor = try c.decodeIfPresent(Bool.self, forKey: .debuggingInpaintPreprocessor) ?? false
        mixingImagePromptAndInpaint = try c.decodeIfPresent(Bool.self, forKey: .mixingImagePromptAndInpaint) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        try generation.encode(to: encoder)
        try imagePrompts.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(inpaintImageURL, forKey: .inpaintImageURL)
        try c.encodeIfPresent(maskImageURL, forKey: .maskImageURL)
        try c.encode(inpaintMode, forKey: .inpaintMode)
        try c.encode(inpaintAdditionalPrompt, forKey: .inpaintAdditionalPrompt)
        try c.encode(outpaintSelections, forKey: .outpaintSelections)
        try c.encode(outpaintDistances.left, forKey: .outpaintDistanceLeft)
        try c.encode(outpaintDistances.top, forKey: .outpaintDistanceTop)
        try c.encode(outpaintDistances.right, forKey: .outpaintDistanceRight)
        try c.encode(outpaintDistances.bottom, forKey: .outpaintDistanceBottom)
        try c.encode(overrideInpaintOptions, forKey: .overrideInpaintOptions)
        try c.encode(inpaintDisableInitialLatent, forKey: .inpaintDisableInitialLatent)
        try c.encode(inpaintEngine, forKey: .inpaintEngine)
        try c.encode(inpaintStrength, forKey: .inpaintStrength)
        try c.encode(inpaintRespectiveField, forKey: .inpaintRespectiveField)
        try c.encode(inpaintErodeOrDilate, forKey: .inpaintErodeOrDilate)
        try c.encode(invertMask, forKey: .invertMask)
        try c.encode(debuggingInpaintPreprocessor, forKey: .debuggingInpaintPreprocessor)
        try c.encode(mixingImagePromptAndInpaint, forKey: .mixingImagePromptAndInpaint)
    }

    /// Whether a mask URL was given (an empty string counts as none).
    public var hasMask: Bool { !(maskImageURL ?? "").isEmpty }

    /// The outpaint sides, parsed as Fooocus does (case-insensitively).
    public var outpaintDirections: Set<OutpaintDirection> {
        Set(outpaintSelections.compactMap(OutpaintDirection.init(parsing:)))
    }

    /// Denoise strength: the preset's, or `inpaint_strength` with `override_inpaint_options`.
    public var strength: Double { overrideInpaintOptions ? inpaintStrength : inpaintMode.strength }
    /// Respective field: the preset's, or `inpaint_respective_field` with `override_inpaint_options`.
    public var respectiveField: Double { overrideInpaintOptions ? inpaintRespectiveField : inpaintMode.respectiveField }
    /// Mask erosion (< 0) or dilation (> 0), only with `override_inpaint_options`.
    public var erodeOrDilate: Double { overrideInpaintOptions ? inpaintErodeOrDilate : 0 }

    /// What the request asks the engine for.
    public var requirements: [Requirement] {
        var needs: [Requirement] = []
        if hasMask || invertMask { needs.append(Requirement(.inpaint, field: hasMask ? "mask_image_url" : "invert_mask")) }
        if !outpaintDirections.isEmpty { needs.append(Requirement(.outpaint, field: "outpaint_selections")) }
        return needs + Requirements.imagePrompts(imagePrompts, mixing: [("mixing_image_prompt_and_inpaint", mixingImagePromptAndInpaint)])
    }

    /// The submit-time checks that need no image: the aspect ratio, and that something is to be painted at all.
    public func validate() throws(FunctionError) {
        try generation.validateAspectRatio()
        if !hasMask, !invertMask, outpaintDirections.isEmpty {
            throw .input(field: ["mask_image_url"], code: "value_error",
                         message: "nothing to inpaint: give a mask_image_url or at least one outpaint_selections side")
        }
    }

    /// Fields this request sets that only diffusion would use, beyond the generation fields.
    var diffusionOnlyFieldsSet: [String] {
        var set: [String] = []
        if !inpaintAdditionalPrompt.isEmpty { set.append("inpaint_additional_prompt") }
        if overrideInpaintOptions, inpaintEngine != "v2.6" { set.append("inpaint_engine") }
        if overrideInpaintOptions, inpaintDisableInitialLatent { set.append("inpaint_disable_initial_latent") }
        return set
    }
}
