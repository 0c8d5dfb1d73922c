import Foundation
import GantryCore
import Imaging

/// What every fooocus endpoint returns: `{images, timings, has_nsfw_concepts, seed}`.
public struct FooocusOutput: Codable, Sendable, Equatable {
    public var images: [ImageRecord]
    /// Seconds per phase (`fetch`, `prepare`, `engine`, `finish`, `encode`) and `total`.
    public var timings: [String: Double]
    public var hasNSFWConcepts: [Bool]
    public var seed: Int

    enum CodingKeys: String, CodingKey {
        case images, timings, seed
        case hasNSFWConcepts = "has_nsfw_concepts"
    }

    public init(images: [ImageRecord], timings: [String: Double], hasNSFWConcepts: [Bool], seed: Int) {
        self.images = images
        self.timings = timings
        self.hasNSFWConcepts = hasNSFWConcepts
        self.seed = seed
    }
}

/// Adds up the wall time of a request's phases.
struct PhaseClock {
    private let clock = ContinuousClock()
    private let started: ContinuousClock.Instant
    private(set) var seconds: [String: Double] = [:]

    init() {
        started = clock.now
    }

    /// Runs `body` and adds its duration to `phase`.
    mutating func measure<T>(_ phase: String, _ body: () async throws -> T) async rethrows -> T {
        let start = clock.now
        defer { seconds[phase, default: 0] += Self.seconds(clock.now - start) }
        return try await body()
    }

    /// The phases and the total so far.
    func timings() -> [String: Double] {
        seconds.merging(["total": Self.seconds(clock.now - started)]) { $1 }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// The steps the fooocus functions share: fetch and decode inputs, encode and store outputs, log what is ignored.
enum FunctionSupport {
    /// Fetches and decodes an input image; fetch and codec failures are 422s naming `field`.
    static func fetchImage(_ url: String, field: String, context: RunContext, limits: DecodeLimits) async throws -> Image {
        let fetched = try await context.fetch(url, field: field)
        do {
            let data = fetched.data
            return try await Compute.shared.run { try ImageCodec.decode(data, limits: limits) }
        } catch let error as ImageError {
            throw FunctionError.input(field: [field], code: error.code.rawValue, message: "\(field): \(error.message)")
        }
    }

    /// Encodes an output: PNG, or JPEG / lossy WebP at quality 95 (Fooocus's own settings).
    static func encode(_ image: Image, as format: OutputFormat) throws -> (data: Data, format: ImageFormat) {
        let imageFormat: ImageFormat = switch format {
        case .png: .png
        case .jpeg: .jpeg
        case .webp: .webp
        }
        do {
            return (try ImageCodec.encode(image, as: imageFormat, quality: 95, lossless: false), imageFormat)
        } catch let error as ImageError {
            throw FunctionError.failed("encoding the output failed: \(error.message)", errorType: error.code.rawValue)
        }
    }

    /// Stores encoded bytes as an image record (a `data:` URI in sync mode).
    static func store(_ encoded: (data: Data, format: ImageFormat), size image: Image, context: RunContext) async throws -> ImageRecord {
        try await context.store(encoded.data, contentType: encoded.format.contentType, fileExtension: encoded.format.fileExtension,
                                width: image.width, height: image.height)
    }

    /// The request's seed, or a random one in 0..<2^32 when it has none.
    static func seed(_ requested: Int?) -> Int {
        requested ?? Int.random(in: 0...Int(UInt32.max))
    }

    /// One log line saying which fields the engine ignores (always written when it cannot follow prompts), naming
    /// those this request set to non-default values.
    static func logIgnoredFields(_ generation: GenerationFields, extraSet: [String] = [], engine: any ImageEngine, context: RunContext) async {
        if !engine.capabilities.contains(.promptGuidance) {
            let set = generation.guidanceFieldsSet() + extraSet
            let note = set.isEmpty ? "none set in this request" : "set in this request: \(set.joined(separator: ", "))"
            await context.log("the \(engine.name) engine does not follow prompts; ignored: "
                              + "\(GenerationFields.guidanceFieldNames.joined(separator: ", ")) (\(note))")
        }
        if generation.enableSafetyChecker, !engine.capabilities.contains(.safetyChecker) {
            await context.log("enable_safety_checker: the \(engine.name) engine has no safety checker; has_nsfw_concepts reports false",
                              level: .warn)
        }
    }
}

extension FunctionError {
    /// A Fooocus stage's refusal as the caller's error: 422 naming `field`.
    static func stage(_ error: FooocusError, field: String) -> FunctionError {
        let code = switch error {
        case .sizeMismatch: "size_mismatch"
        case .emptyMask: "empty_mask"
        case .unsupportedChannels: "unsupported_channels"
        case .invalidParameter, .degenerateShape: "value_error"
        }
        return .input(field: [field], code: code, message: error.description)
    }
}
