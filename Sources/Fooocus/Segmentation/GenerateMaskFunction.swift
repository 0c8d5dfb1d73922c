import Foundation
import GantryCore
import Imaging

/// `gantry/fooocus/generate-mask`: FooocusAPI's `/v1/tools/generate_mask` (docs/fooocus.md §2.5) as a function. Every
/// mask model is a neural network; an engine that has one (a ``MaskEngine``) serves it. Without one, each model is
/// refused at submit with `capability_unavailable` naming `mask_model` — except `isnet-general-use`, which the CPU
/// answers with GrabCut from a centred box (``CentredBoxSegmentation``) when the fallback is on, and says so in
/// the run's logs and the output's `method`.
public struct GenerateMaskFunction: HostedFunction {
    public struct Input: Decodable, Sendable {
        public var imageURL: String
        public var request: MaskRequest
        public var syncMode: Bool

        enum CodingKeys: String, CodingKey {
            case imageURL = "image_url", maskModel = "mask_model", clothCategory = "cloth_category"
            case dinoPromptText = "dino_prompt_text", samModel = "sam_model", boxThreshold = "box_threshold"
            case textThreshold = "text_threshold", samMaxDetections = "sam_max_detections"
            case dinoErodeOrDilate = "dino_erode_or_dilate", dinoDebug = "dino_debug", syncMode = "sync_mode"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let defaults = MaskRequest()
            imageURL = try c.decode(String.self, forKey: .imageURL)
            request = MaskRequest(
                model: try c.decodeIfPresent(MaskModel.self, forKey: .maskModel) ?? defaults.model,
                clothCategory: try c.decodeIfPresent(String.self, forKey: .clothCategory) ?? defaults.clothCategory,
                dinoPromptText: try c.decodeIfPresent(String.self, forKey: .dinoPromptText) ?? defaults.dinoPromptText,
                samModel: try c.decodeIfPresent(String.self, forKey: .samModel) ?? defaults.samModel,
                boxThreshold: try c.decodeIfPresent(Double.self, forKey: .boxThreshold) ?? defaults.boxThreshold,
                textThreshold: try c.decodeIfPresent(Double.self, forKey: .textThreshold) ?? defaults.textThreshold,
                samMaxDetections: try c.decodeIfPresent(Int.self, forKey: .samMaxDetections) ?? defaults.samMaxDetections,
                dinoErodeOrDilate: try c.decodeIfPresent(Double.self, forKey: .dinoErodeOrDilate) ?? defaults.dinoErodeOrDilate,
                dinoDebug: try c.decodeIfPresent(Bool.self, forKey: .dinoDebug) ?? defaults.dinoDebug)
            syncMode = try c.decodeIfPresent(Bool.self, forKey: .syncMode) ?? false
        }
    }

    public struct Output: Encodable, Sendable {
        /// The mask as a PNG: gray, white = the object.
        public var image: ImageRecord
        public var maskModel: MaskModel
        /// `model` (the engine's network) or `grabcut-centred-box` (the CPU stand-in for isnet-general-use).
        public var method: String
        /// Seconds per phase: fetch, segment, encode, total.
        public var timings: [String: Double]

        enum CodingKeys: String, CodingKey {
            case image, method, timings
            case maskModel = "mask_model"
        }
    }

    /// What answers `isnet-general-use` when the engine has no such model.
    public enum Fallback: Sendable, Equatable {
        /// GrabCut from a centred box (``CentredBoxSegmentation``).
        case grabCut
        /// Nothing: refuse like every other model.
        case refuse
    }

    /// The `method` of a GrabCut answer.
    public static let grabCutMethod = "grabcut-centred-box"

    let engine: any ImageEngine
    let fallback: Fallback
    let limits: DecodeLimits

    public init(engine: any ImageEngine = ReferenceEngine(), fallback: Fallback = .grabCut, limits: DecodeLimits = .init()) {
        self.engine = engine
        self.fallback = fallback
        self.limits = limits
    }

    public static var checksAtSubmit: Bool { true }

    public func check(_ input: Input) throws {
        try input.request.validate()
        _ = try plan(for: input.request.model)
    }

    /// How a model is answered: by the engine, by GrabCut, or not at all (422 `capability_unavailable`).
    enum Plan {
        case engine(any MaskEngine)
        case grabCut
    }

    func plan(for model: MaskModel) throws(FunctionError) -> Plan {
        if model.isServed(by: engine), let masks = engine as? any MaskEngine { return .engine(masks) }
        if model == .isnetGeneralUse, fallback == .grabCut { return .grabCut }
        let capability = model.capability
        var message = "the \(engine.name) engine cannot do \(capability.phrase) (capability '\(capability.rawValue)'): "
            + "mask_model '\(model.rawValue)' needs \(model.needs), which this host does not have"
        if fallback == .grabCut {
            message += "; only isnet-general-use has a CPU stand-in here (GrabCut from a centred box)"
        }
        throw FunctionError(status: 422, errorType: Requirements.errorType, detail: .issues([
            ValidationIssue(loc: [.string("body"), .string("mask_model")], msg: message, type: Requirements.errorType),
        ]))
    }

    public func run(_ input: Input, context: RunContext) async throws -> Output {
        // `gantry run` skips the submit-time check; refuse here too.
        try input.request.validate()
        let plan = try plan(for: input.request.model)
        var clock = PhaseClock()
        let limits = self.limits
        let image = try await clock.measure("fetch") {
            try await FunctionSupport.fetchImage(input.imageURL, field: "image_url", context: context, limits: limits)
        }
        try Task.checkCancellation()
        let mask: Image
        let method: String
        switch plan {
        case .engine(let masks):
            mask = try await clock.measure("segment") { try await masks.mask(image, request: input.request) }
            method = "model"
        case .grabCut:
            let working = CentredBoxSegmentation.workingSize(width: image.width, height: image.height)
            await context.log("mask_model isnet-general-use: this host has no isnet model; the mask is GrabCut foreground "
                              + "segmentation from a centred box (\(Int(CentredBoxSegmentation.margin * 100)) % margin, "
                              + "\(CentredBoxSegmentation.iterations) iterations at \(working.width)×\(working.height))")
            mask = await clock.measure("segment") { await Compute.shared.run { CentredBoxSegmentation.mask(image) } }
            method = Self.grabCutMethod
        }
        try Task.checkCancellation()
        let encoded = try await clock.measure("encode") { try await Compute.shared.run { try FunctionSupport.encode(mask, as: .png) } }
        let record = try await FunctionSupport.store(encoded, size: mask, context: context)
        return Output(image: record, maskModel: input.request.model, method: method, timings: clock.timings())
    }
}
