import Foundation
import GantryCore
import Imaging

/// `gantry/image/convert`: fetches an image (URL or data URI), decodes it under the pixel limits, and re-encodes it
/// as PNG, JPEG or WebP. Proves the whole input → decode → encode → store path.
public struct ImageConvertFunction: HostedFunction {
    public struct Input: Decodable, Sendable {
        public var imageURL: String
        public var outputFormat: String
        public var quality: Int
        public var syncMode: Bool

        enum CodingKeys: String, CodingKey {
            case imageURL = "image_url", outputFormat = "output_format", quality, syncMode = "sync_mode"
        }
    }

    public struct Output: Encodable, Sendable {
        public var image: ImageRecord
    }

    let limits: DecodeLimits

    public init(limits: DecodeLimits = .init()) {
        self.limits = limits
    }

    public func run(_ input: Input, context: RunContext) async throws -> Output {
        let fetched = try await context.fetch(input.imageURL, field: "image_url")
        let data = fetched.data
        let limits = self.limits
        let image = try await Compute.shared.run { try decodeImage(data, field: "image_url", limits: limits) }
        try Task.checkCancellation()
        guard let format = ImageFormat(rawValue: input.outputFormat) else {
            throw FunctionError.input(field: ["output_format"], code: "enum", message: "output_format must be png, jpeg or webp")
        }
        let encoded: Data
        do {
            let quality = input.quality
            encoded = try await Compute.shared.run { try ImageCodec.encode(image, as: format, quality: quality) }
        } catch let error as ImageError {
            throw FunctionError.failed(error.message, errorType: error.code.rawValue)
        }
        await context.log("converted \(image.width)×\(image.height) image to \(format.rawValue) (\(encoded.count) bytes)")
        let record = try await context.store(encoded, contentType: format.contentType, fileExtension: format.fileExtension, width: image.width, height: image.height)
        return Output(image: record)
    }
}

/// Decodes an input image, turning codec errors into a 422 that names the input field.
public func decodeImage(_ data: Data, field: String, limits: DecodeLimits = .init()) throws -> Image {
    do {
        return try ImageCodec.decode(data, limits: limits)
    } catch let error as ImageError {
        throw FunctionError.input(field: [field], code: error.code.rawValue, message: error.message)
    }
}

/// The handlers of the built-in functions, by manifest `handler` name.
public enum BuiltinFunctions {
    public static var handlers: [String: AnyHostedFunction] {
        [
            "gantry.echo": AnyHostedFunction(EchoFunction()), "gantry.image.convert": AnyHostedFunction(ImageConvertFunction()),
            "gantry.file.digest": AnyHostedFunction(FileDigestFunction()),
        ]
    }
}
