import GantryCore
import Imaging

/// The mask models Fooocus offers for `generate_mask` (`flags.inpaint_mask_models`, docs/fooocus.md §1.9, §2.5).
/// Every one of them is a neural network; which a host can serve depends on its engine.
public enum MaskModel: String, CaseIterable, Sendable, Codable {
    case u2net
    case u2netp
    case u2netHumanSeg = "u2net_human_seg"
    case u2netClothSeg = "u2net_cloth_seg"
    case silueta
    case isnetGeneralUse = "isnet-general-use"
    case isnetAnime = "isnet-anime"
    case sam

    /// The engine capability the model stands for.
    public var capability: EngineCapability { self == .sam ? .promptedMask : .foregroundMask }

    /// What serving it takes, for refusals.
    public var needs: String {
        switch self {
        case .sam: "GroundingDINO (SwinT-OGC) to find boxes for dino_prompt_text and SAM (vit_b, vit_l or vit_h) to segment them"
        default: "rembg's \(rawValue) ONNX segmentation network"
        }
    }

    /// Whether `engine` serves this model: it claims the capability and, as a ``MaskEngine``, lists the model.
    public func isServed(by engine: any ImageEngine) -> Bool {
        guard engine.capabilities.contains(capability), let masks = engine as? any MaskEngine else { return false }
        return masks.maskModels.contains(self)
    }
}

/// A `generate_mask` request without its image: FooocusAPI's `GenerateMaskRequest` fields with their defaults.
public struct MaskRequest: Sendable, Equatable {
    public var model: MaskModel
    /// `full`, `upper` or `lower` (u2net_cloth_seg only).
    public var clothCategory: String
    /// What GroundingDINO looks for (sam only).
    public var dinoPromptText: String
    /// `vit_b`, `vit_l` or `vit_h` (sam only).
    public var samModel: String
    public var boxThreshold: Double
    public var textThreshold: Double
    /// Masks OR-ed together at most (0 = all; sam only).
    public var samMaxDetections: Int
    /// Pixels every GroundingDINO box grows by (negative shrinks; sam only).
    public var dinoErodeOrDilate: Double
    /// Return the boxes as white rectangles instead of SAM's masks (sam only).
    public var dinoDebug: Bool

    /// `cloth_category` values u2net_cloth_seg knows.
    public static let clothCategories = ["full", "upper", "lower"]
    /// `sam_model` values (SAM's checkpoints).
    public static let samModels = ["vit_b", "vit_l", "vit_h"]

    /// Checks the fields the chosen model reads. FooocusAPI takes any string for `cloth_category` and `sam_model`
    /// (and ignores them for other models), so only the model that uses one has it checked: a value it cannot use
    /// is a 422 naming the field.
    public func validate() throws(FunctionError) {
        if model == .u2netClothSeg, !Self.clothCategories.contains(clothCategory) {
            throw FunctionError.input(field: ["cloth_category"], code: "enum",
                                      message: "cloth_category must be one of full, upper, lower for u2net_cloth_seg, not '\(clothCategory.prefix(100))'")
        }
        if model == .sam, !Self.samModels.contains(samModel) {
            throw FunctionError.input(field: ["sam_model"], code: "enum",
                                      message: "sam_model must be one of vit_b, vit_l, vit_h, not '\(samModel.prefix(100))'")
        }
    }

    public init(model: MaskModel = .isnetGeneralUse, clothCategory: String = "full", dinoPromptText: String = "",
                samModel: String = "vit_b", boxThreshold: Double = 0.3, textThreshold: Double = 0.25,
                samMaxDetections: Int = 0, dinoErodeOrDilate: Double = 0, dinoDebug: Bool = false) {
        self.model = model
        self.clothCategory = clothCategory
        self.dinoPromptText = dinoPromptText
        self.samModel = samModel
        self.boxThreshold = boxThreshold
        self.textThreshold = textThreshold
        self.samMaxDetections = samMaxDetections
        self.dinoErodeOrDilate = dinoErodeOrDilate
        self.dinoDebug = dinoDebug
    }
}

/// An engine with neural mask models. It declares ``EngineCapability/foregroundMask`` and/or
/// ``EngineCapability/promptedMask`` and lists the models it has; `generate_mask` then uses it for those models
/// instead of refusing them.
public protocol MaskEngine: ImageEngine {
    /// The models it serves.
    var maskModels: Set<MaskModel> { get }
    /// A mask the size of `image` (1 channel, or 3 for sam's 0/255 RGB), white = the object. Deterministic, and
    /// checks `Task.isCancelled` between steps.
    func mask(_ image: Image, request: MaskRequest) async throws -> Image
}
