import Foundation
import GantryCore

/// A LoRA to merge into the model: fal's `LoraWeight`, `{path, scale = 0.1}`.
public struct LoraWeight: Codable, Sendable, Equatable {
    public var path: String
    public var scale: Double

    public static let defaultScale = 0.1
    /// fal's default LoRA list: the SDXL offset-example LoRA at 0.1.
    public static let defaults = [LoraWeight(
        path: "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/resolve/main/sd_xl_offset_example-lora_1.0.safetensors",
        scale: defaultScale)]

    public init(path: String, scale: Double = LoraWeight.defaultScale) {
        self.path = path
        self.scale = scale
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        path = try container.decode(String.self, forKey: .path)
        scale = try container.decodeIfPresent(Double.self, forKey: .scale) ?? Self.defaultScale
    }
}

/// fal's `ImagePrompt`: a reference image that conditions generation (IP-Adapter, PyraCanny, CPDS, FaceSwap).
public struct ImagePrompt: Codable, Sendable, Equatable {
    public var type: String
    /// The reference image; an image prompt without one is ignored, as in Fooocus.
    public var imageURL: String?
    public var stopAt: Double
    public var weight: Double

    enum CodingKeys: String, CodingKey {
        case type, weight
        case imageURL = "image_url", stopAt = "stop_at"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decodeIfPresent(String.self, forKey: .type) ?? "ImagePrompt"
        imageURL = try container.decodeIfPresent(String.self, forKey: .imageURL)
        stopAt = try container.decodeIfPresent(Double.self, forKey: .stopAt) ?? 0.5
        weight = try container.decodeIfPresent(Double.self, forKey: .weight) ?? 1
    }

    /// Whether it names an image, i.e. asks for image-prompt conditioning.
    public var isActive: Bool { !(imageURL ?? "").isEmpty }
}

/// The output encodings fal's fooocus endpoints offer.
public enum OutputFormat: String, Codable, Sendable, CaseIterable {
    case png, jpeg, webp
}

/// The generation fields every fooocus endpoint takes (docs/fooocus.md §5). Most steer diffusion only; an engine
/// without ``EngineCapability/promptGuidance`` accepts and ignores them.
public struct GenerationFields: Codable, Sendable, Equatable {
    public var prompt: String
    public var negativePrompt: String
    public var styles: [String]
    public var performance: String
    public var guidanceScale: Double
    public var sharpness: Double
    public var aspectRatio: String
    public var numImages: Int
    public var loras: [LoraWeight]
    public var refinerModel: String
    public var refinerSwitch: Double
    public var outputFormat: OutputFormat
    public var syncMode: Bool
    /// The first image's seed; random when absent.
    public var seed: Int?
    public var enableSafetyChecker: Bool

    enum CodingKeys: String, CodingKey, CaseIterable {
        case prompt, styles, performance, sharpness, loras, seed
        case negativePrompt = "negative_prompt", guidanceScale = "guidance_scale", aspectRatio = "aspect_ratio"
        case numImages = "num_images", refinerModel = "refiner_model", refinerSwitch = "refiner_switch"
        case outputFormat = "output_format", syncMode = "sync_mode", enableSafetyChecker = "enable_safety_checker"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        prompt = try c.decodeIfPresent(String.self, forKey: .prompt) ?? ""
        negativePrompt = try c.decodeIfPresent(String.self, forKey: .negativePrompt) ?? ""
        styles = try c.decodeIfPresent([String].self, forKey: .styles) ?? ["Fooocus Enhance", "Fooocus V2", "Fooocus Sharp"]
        performance = try c.decodeIfPresent(String.self, forKey: .performance) ?? "Extreme Speed"
        guidanceScale = try c.decodeIfPresent(Double.self, forKey: .guidanceScale) ?? 4
        sharpness = try c.decodeIfPresent(Double.self, forKey: .sharpness) ?? 2
        aspectRatio = try c.decodeIfPresent(String.self, forKey: .aspectRatio) ?? "1024x1024"
        numImages = try c.decodeIfPresent(Int.self, forKey: .numImages) ?? 1
        loras = try c.decodeIfPresent([LoraWeight].self, forKey: .loras) ?? LoraWeight.defaults
        refinerModel = try c.decodeIfPresent(String.self, forKey: .refinerModel) ?? "None"
        refinerSwitch = try c.decodeIfPresent(Double.self, forKey: .refinerSwitch) ?? 0.8
        outputFormat = try c.decodeIfPresent(OutputFormat.self, forKey: .outputFormat) ?? .jpeg
        syncMode = try c.decodeIfPresent(Bool.self, forKey: .syncMode) ?? false
        seed = try c.decodeIfPresent(Int.self, forKey: .seed)
        enableSafetyChecker = try c.decodeIfPresent(Bool.self, forKey: .enableSafetyChecker) ?? true
    }

    /// Every field at its default.
    public static let defaults: GenerationFields = {
        // Decoding `{}` is the one definition of the defaults; it cannot fail.
        try! JSONDecoder().decode(GenerationFields.self, from: Data("{}".utf8))
    }()

    /// The fields that only steer diffusion, by wire name.
    static let guidanceFieldNames = ["prompt", "negative_prompt", "styles", "performance", "guidance_scale", "sharpness",
                                     "loras", "refiner_model", "refiner_switch", "aspect_ratio"]

    /// The guidance fields this request sets to something other than their defaults, by wire name.
    func guidanceFieldsSet() -> [String] {
        let d = Self.defaults
        let differs: [(String, Bool)] = [
            ("prompt", prompt != d.prompt), ("negative_prompt", negativePrompt != d.negativePrompt),
            ("styles", styles != d.styles), ("performance", performance != d.performance),
            ("guidance_scale", guidanceScale != d.guidanceScale), ("sharpness", sharpness != d.sharpness),
            ("loras", loras != d.loras), ("refiner_model", refinerModel != d.refinerModel),
            ("refiner_switch", refinerSwitch != d.refinerSwitch), ("aspect_ratio", aspectRatio != d.aspectRatio),
        ]
        return differs.filter(\.1).map(\.0)
    }

    /// Checks what the schema cannot: `aspect_ratio` is `"WxH"`, both positive multiples of 8 up to 8192.
    func validateAspectRatio() throws(FunctionError) {
        let parts = aspectRatio.split(separator: "x", omittingEmptySubsequences: false)
        let digitsOnly = parts.allSatisfy { part in !part.isEmpty && part.count <= 5 && part.allSatisfy { ("0"..."9").contains($0) } }
        guard parts.count == 2, digitsOnly,
              parts.allSatisfy({ Int($0).map { $0 > 0 && $0 <= 8192 && $0 % 8 == 0 } ?? false }) else {
            throw .input(field: ["aspect_ratio"], code: "value_error",
                         message: "aspect_ratio must look like \"1024x1024\": width x height, positive multiples of 8 up to 8192, got \"\(aspectRatio)\"")
        }
    }
}

/// The four image-prompt slots of `fal-ai/fooocus/{inpaint, upscale-or-vary, image-prompt}`.
public struct ImagePromptFields: Codable, Sendable, Equatable {
    public var imagePrompt1: ImagePrompt?
    public var imagePrompt2: ImagePrompt?
    public var imagePrompt3: ImagePrompt?
    public var imagePrompt4: ImagePrompt?

    enum CodingKeys: String, CodingKey {
        case imagePrompt1 = "image_prompt_1", imagePrompt2 = "image_prompt_2"
        case imagePrompt3 = "image_prompt_3", imagePrompt4 = "image_prompt_4"
    }

    /// The slots that name an image, with their wire names.
    public var active: [(field: String, prompt: ImagePrompt)] {
        [("image_prompt_1", imagePrompt1), ("image_prompt_2", imagePrompt2), ("image_prompt_3", imagePrompt3),
         ("image_prompt_4", imagePrompt4)].compactMap { field, prompt in
            prompt.flatMap { $0.isActive ? (field, $0) : nil }
        }
    }
}
