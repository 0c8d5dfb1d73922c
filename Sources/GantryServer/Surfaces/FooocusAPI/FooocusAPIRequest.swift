import Foundation
import GantryCore

/// A Fooocus generation request in Fooocus's own terms, whichever Fooocus-API spelling carried it (v1 multipart
/// form, v1/v2 JSON; docs/fooocus.md §1.3–1.5), with Fooocus-API's defaults. `FooocusAPITranslation` maps it onto the fal
/// functions; another Fooocus-flavoured surface (FooocusAPI 2.5's flat request) can fill the same type.
struct FooocusAPIRequest: Sendable, Equatable {
    /// The Fooocus-API route family; its raw value is the job type query-job reports.
    enum Kind: String, Sendable, CaseIterable {
        case textToImage = "Text to Image"
        case upscaleVary = "Image Upscale or Variation"
        case inpaintOutpaint = "Image Inpaint or Outpaint"
        case imagePrompt = "Image Prompt"
    }

    /// A LoRA entry (`{enabled, model_name, weight}`).
    struct Lora: Sendable, Equatable {
        var enabled: Bool
        var modelName: String
        var weight: Double
    }

    /// One image-prompt slot; a stop or weight of 0 means the type's default.
    struct ImagePrompt: Sendable, Equatable {
        var image: String?
        var stop: Double = 0
        var weight: Double = 0
        var type: String = "ImagePrompt"
        /// Where the slot was in the request (`["cn_img1"]` in a v1 form, `["image_prompts", "0"]` in JSON).
        var location: [String]
    }

    /// The `advanced_params` the fal functions have a field for (the others are validated where Fooocus-API
    /// constrains them, then ignored).
    struct Advanced: Sendable, Equatable {
        var disableSeedIncrement = false
        var overwriteWidth = -1
        var overwriteHeight = -1
        var inpaintEngine = "v2.6"
        var inpaintStrength = 1.0
        var inpaintRespectiveField = 1.0
        var inpaintErodeOrDilate = 0
        var inpaintDisableInitialLatent = false
        var invertMask = false
        var debuggingInpaintPreprocessor = false
        var blackOutNSFW = false
    }

    /// An image size in pixels.
    struct Size: Sendable, Equatable {
        var width: Int
        var height: Int
    }

    /// Outpaint distances in pixels; ≤ 0 means Fooocus's default of 30 % of the side.
    struct Distances: Sendable, Equatable {
        var left = 0, right = 0, top = 0, bottom = 0

        /// The distance of a side named as in `outpaint_selections`.
        func value(_ side: String) -> Int {
            switch side {
            case "Left": left
            case "Right": right
            case "Top": top
            default: bottom
            }
        }
    }

    var kind: Kind
    var prompt = ""
    var negativePrompt = ""
    var styles = FooocusAPIRequest.defaultStyles
    var performance = "Speed"
    var aspectRatio = Size(width: 1152, height: 896)
    var imageNumber = 1
    /// -1 (or any value outside 0…2^63−1) asks for a random seed.
    var seed = -1
    var sharpness = 2.0
    var guidanceScale = 4.0
    var refinerModel = "None"
    var refinerSwitch = 0.5
    /// Nil keeps Fooocus's default LoRA (the SDXL offset example at 0.1), which is also the fal functions' default.
    var loras: [Lora]?
    /// `png`, `jpeg` or `webp` (`jpg` is read as `jpeg`).
    var outputFormat = "png"
    var inputImage: String?
    var inputMask: String?
    var uovMethod = "Upscale (2x)"
    /// The factor of `Upscale (Custom)`, resolved by the surface's own rule (Fooocus-API maps 5 to 2).
    var upscaleValue: Double?
    /// `Left`, `Right`, `Top`, `Bottom`, in request order.
    var outpaintSelections: [String] = []
    var outpaintDistances = Distances()
    var inpaintAdditionalPrompt = ""
    var imagePrompts: [ImagePrompt] = []
    var advanced = Advanced()
    var requireBase64 = false
    var asyncProcess = false
    /// The per-request webhook; nil or empty means the host's `--fooocus-webhook-url`, if any.
    var webhookURL: String?

    /// Fooocus-API's default styles.
    static let defaultStyles = ["Fooocus V2", "Fooocus Enhance", "Fooocus Sharp"]
    static let performances = ["Speed", "Quality", "Extreme Speed", "Lightning", "Hyper-SD"]
    static let uovMethods = ["Disabled", "Vary (Subtle)", "Vary (Strong)", "Upscale (1.5x)", "Upscale (2x)", "Upscale (Fast 2x)",
                             "Upscale (Custom)"]
    static let outpaintSides = ["Left", "Right", "Top", "Bottom"]
    static let controlNetTypes = ["ImagePrompt", "FaceSwap", "PyraCanny", "CPDS"]

    /// Default stop and weight of an image-prompt type (`flags.default_parameters`).
    static func controlNetDefaults(_ type: String) -> (stop: Double, weight: Double) {
        switch type {
        case "FaceSwap": (0.9, 0.75)
        case "PyraCanny", "CPDS": (0.5, 1.0)
        default: (0.5, 0.6)
        }
    }

    /// The image-prompt slots that carry an image.
    var activeImagePrompts: [ImagePrompt] { imagePrompts.filter { $0.image != nil } }
}
