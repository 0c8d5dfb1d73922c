import Imaging

/// Something an engine may or may not be able to do. A function works out what a request needs and refuses at
/// submit when the configured engine lacks it, so a future diffusion engine lifts a refusal just by declaring more.
public enum EngineCapability: String, Sendable, CaseIterable, Hashable {
    /// Fill a masked region from the rest of the image.
    case inpaint
    /// Extend the canvas and fill the new border.
    case outpaint
    /// Upscale (1.5×, 2×, fast 2×).
    case upscale
    /// Generate an image from text alone.
    case textToImage = "text-to-image"
    /// Re-generate an image with subtle or strong variation.
    case vary
    /// Condition generation on reference images (ImagePrompt, PyraCanny, CPDS, FaceSwap).
    case imagePrompt = "image-prompt"
    /// Follow the prompt (and styles, LoRAs, guidance) when generating content.
    case promptGuidance = "prompt-guidance"
    /// Flag unsafe content.
    case safetyChecker = "safety-checker"
    /// Foreground masks from rembg's neural models (u2net, u2netp, u2net_human_seg, u2net_cloth_seg, silueta,
    /// isnet-general-use, isnet-anime); an engine claiming it also conforms to ``MaskEngine``.
    case foregroundMask = "foreground-mask"
    /// Masks of what a text prompt names (GroundingDINO boxes, then SAM); an engine claiming it conforms to ``MaskEngine``.
    case promptedMask = "prompted-mask"
    /// Describe an image in words (BLIP captions for photos, WD14 tags for anime); see ``CaptionEngine``.
    case imageCaptioning = "image-captioning"

    /// A phrase for error messages ("text-to-image generation").
    public var phrase: String {
        switch self {
        case .inpaint: "inpainting"
        case .outpaint: "outpainting"
        case .upscale: "upscaling"
        case .textToImage: "text-to-image generation"
        case .vary: "image variation (Vary)"
        case .imagePrompt: "image prompts"
        case .promptGuidance: "prompt-guided generation"
        case .safetyChecker: "safety checking"
        case .foregroundMask: "foreground masks from rembg's models"
        case .promptedMask: "text-prompted masks (GroundingDINO + SAM)"
        case .imageCaptioning: "image captioning"
        }
    }
}

/// What an engine is asked to fill: the prepared working region of one request (Fooocus's InpaintWorker output),
/// plus the original pixels of the crop box for engines that prefer to work at the crop's own resolution.
public struct InpaintTask: Sendable {
    /// Fooocus's preparation: box, working crop, working mask (0/255), fill, blend mask.
    public var preparation: InpaintPreparation
    /// The seed of this image (request seed + image index).
    public var seed: UInt64
    /// `inpaint_strength` (denoise); 1 means the masked region is entirely new content.
    public var strength: Double
    /// The prompt, for engines that follow one.
    public var prompt: String

    public init(preparation: InpaintPreparation, seed: UInt64, strength: Double, prompt: String) {
        self.preparation = preparation
        self.seed = seed
        self.strength = strength
        self.prompt = prompt
    }
}

/// An engine that generates pixels between Fooocus's exact preparation and finishing.
public protocol ImageEngine: Sendable {
    /// A short name for logs and errors ("reference").
    var name: String { get }
    /// What it can do.
    var capabilities: Set<EngineCapability> { get }
    /// Returns the generated content for the task's box, at any size (the finishing step resizes it to the box
    /// with Pillow's LANCZOS and blends it in). Must be deterministic for a given seed, check `Task.isCancelled`
    /// between iterations, and report progress in 0...1.
    func inpaint(_ task: InpaintTask, progress: @escaping @Sendable (Double) async -> Void) async throws -> Image
}

extension ImageEngine {
    /// The capabilities in `required` this engine lacks, in a stable order.
    public func missing(_ required: Set<EngineCapability>) -> [EngineCapability] {
        EngineCapability.allCases.filter { required.contains($0) && !capabilities.contains($0) }
    }
}
