/// The encoded image formats Gantry accepts and produces.
///
/// Anything else (GIF, BMP, TIFF, SVG, PSD, …) is refused with
/// ``ImageError/Code/unsupportedFormat`` so that no other parser ever sees
/// untrusted bytes.
public enum ImageFormat: String, Sendable, CaseIterable {
    /// Portable Network Graphics; lossless, optional alpha.
    case png
    /// JPEG (JFIF/EXIF); lossy, no alpha.
    case jpeg
    /// WebP, lossy or lossless, optional alpha; still images only.
    case webp

    /// The MIME type to send in `Content-Type`.
    public var contentType: String {
        switch self {
        case .png: "image/png"
        case .jpeg: "image/jpeg"
        case .webp: "image/webp"
        }
    }

    /// The conventional file extension, without a dot.
    public var fileExtension: String {
        switch self {
        case .png: "png"
        case .jpeg: "jpg"
        case .webp: "webp"
        }
    }
}

/// Caps applied to an image's declared size before any pixel memory is
/// allocated, so a small file that claims a huge canvas (a "pixel bomb")
/// costs only a header parse.
public struct DecodeLimits: Sendable, Equatable {
    /// Largest accepted `width * height`.
    public var maxPixels: Int
    /// Largest accepted width and, separately, height.
    public var maxSide: Int

    /// Creates limits; the defaults allow a 40-megapixel image up to 16384 px
    /// on a side, which covers any photo or SDXL-class output.
    public init(maxPixels: Int = 40_000_000, maxSide: Int = 16_384) {
        self.maxPixels = maxPixels
        self.maxSide = maxSide
    }

    /// Throws ``ImageError/Code/tooLarge`` when a `width`×`height` image
    /// exceeds these limits, and ``ImageError/Code/corrupt`` when either side
    /// is not positive (no valid image is empty).
    public func check(width: Int, height: Int) throws {
        guard width > 0, height > 0 else {
            throw ImageError(.corrupt, "image declares an empty size \(width)×\(height)")
        }
        // Multiply with overflow detection: headers may claim up to 2^31 per side.
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        if overflow || pixels > maxPixels || width > maxSide || height > maxSide {
            let count = overflow ? "more than \(Int.max)" : String(pixels)
            throw ImageError(
                .tooLarge,
                "image is \(width)×\(height) (\(count) pixels); the limit is \(maxPixels) pixels and \(maxSide) per side")
        }
    }
}

/// Why an image could not be decoded or encoded. `code.rawValue` is the
/// stable machine-readable string the HTTP layer puts in error bodies.
public struct ImageError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The stable error categories.
    public enum Code: String, Sendable {
        /// The declared size exceeds ``DecodeLimits`` (maps to HTTP 422).
        case tooLarge = "image_too_large"
        /// The data is truncated or malformed (maps to HTTP 422).
        case corrupt = "image_corrupt"
        /// Not PNG, JPEG or still WebP, or a variant we refuse such as CMYK
        /// JPEG or animated WebP (maps to HTTP 415).
        case unsupportedFormat = "unsupported_format"
        /// The codec refused to encode the given pixels.
        case encodeFailed = "encode_failed"
    }

    /// The category.
    public let code: Code
    /// A human-readable reason, usually including the codec library's own
    /// words; safe to show to API clients (it never contains image bytes).
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `"<code>: <message>"`.
    public var description: String { "\(code.rawValue): \(message)" }
}

/// What ``ImageCodec/readHeader(_:)`` learns without decoding pixels.
public struct ImageHeader: Sendable, Equatable {
    /// The sniffed format.
    public var format: ImageFormat
    /// Width in pixels as declared by the file.
    public var width: Int
    /// Height in pixels as declared by the file.
    public var height: Int
    /// Whether decoding will yield RGBA (alpha channel, PNG tRNS, or WebP
    /// alpha) rather than RGB. Always false for JPEG.
    public var hasAlpha: Bool

    /// Creates a header value.
    public init(format: ImageFormat, width: Int, height: Int, hasAlpha: Bool) {
        self.format = format
        self.width = width
        self.height = height
        self.hasAlpha = hasAlpha
    }
}
