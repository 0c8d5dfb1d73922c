import GantryCore
import Imaging

/// How Fooocus describes an image (`image_type`): a BLIP caption for photos, WD14 tags for anime.
public enum DescribeStyle: String, Codable, Sendable, CaseIterable {
    case photo = "Photo"
    case anime = "Anime"

    /// The model the style needs, for refusals.
    public var model: String {
        switch self {
        case .photo: "a BLIP image-captioning model"
        case .anime: "the WD14 tagger"
        }
    }
}

/// An engine that describes images in words. It declares ``EngineCapability/imageCaptioning``.
public protocol CaptionEngine: ImageEngine {
    /// A prompt-like description of `image` (Fooocus's describe output).
    func describe(_ image: Image, style: DescribeStyle) async throws -> String
}

/// `gantry/fooocus/describe-image`: Fooocus-API's `/v1/tools/describe-image` as a function. Describing needs a
/// captioning model, so with an engine that has none (the reference engine) every request is refused at submit
/// with `capability_unavailable`, after its input has been validated.
public struct DescribeImageFunction: HostedFunction {
    public struct Input: Decodable, Sendable {
        public var imageURL: String
        public var imageType: DescribeStyle

        enum CodingKeys: String, CodingKey {
            case imageURL = "image_url", imageType = "image_type"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            imageURL = try c.decode(String.self, forKey: .imageURL)
            imageType = try c.decodeIfPresent(DescribeStyle.self, forKey: .imageType) ?? .photo
        }
    }

    public struct Output: Encodable, Sendable {
        public var describe: String
    }

    let engine: any ImageEngine
    let limits: DecodeLimits

    public init(engine: any ImageEngine = ReferenceEngine(), limits: DecodeLimits = .init()) {
        self.engine = engine
        self.limits = limits
    }

    public static var checksAtSubmit: Bool { true }

    public func check(_ input: Input) throws {
        _ = try captioner(for: input.imageType)
    }

    /// The engine as a captioner, or the 422 that names what is missing.
    func captioner(for style: DescribeStyle) throws(FunctionError) -> any CaptionEngine {
        if engine.capabilities.contains(.imageCaptioning), let captioner = engine as? any CaptionEngine { return captioner }
        let capability = EngineCapability.imageCaptioning
        let offers = EngineCapability.allCases.filter(engine.capabilities.contains).map(\.phrase)
        let message = "the \(engine.name) engine cannot do \(capability.phrase) (capability '\(capability.rawValue)'): "
            + "image_type '\(style.rawValue)' needs \(style.model); it offers \(offers.isEmpty ? "nothing" : offers.joined(separator: ", "))"
        throw FunctionError(status: 422, errorType: Requirements.errorType, detail: .issues([
            ValidationIssue(loc: [.string("body"), .string("image_url")], msg: message, type: Requirements.errorType),
        ]))
    }

    public func run(_ input: Input, context: RunContext) async throws -> Output {
        let captioner = try captioner(for: input.imageType)
        let image = try await FunctionSupport.fetchImage(input.imageURL, field: "image_url", context: context, limits: limits)
        try Task.checkCancellation()
        return Output(describe: try await captioner.describe(image, style: input.imageType))
    }
}
