import Foundation

/// Decoding and encoding of PNG, JPEG and still WebP with size limits.
///
/// Every entry point is safe on arbitrary bytes: malformed input becomes an
/// ``ImageError``, never a crash, and the declared size is checked against
/// ``DecodeLimits`` before any pixel buffer is allocated. All functions are
/// thread-safe (each call uses its own codec handle) and synchronous; call
/// them off latency-sensitive executors for large images.
///
/// EXIF orientation is not applied (Fooocus does not apply it either), and no
/// ICC profile, gamma or other colour transform is ever applied.
public enum ImageCodec {
    /// Identifies a supported format by its magic bytes, or returns nil.
    ///
    /// PNG: the 8-byte signature. JPEG: `FF D8 FF`. WebP: `RIFF????WEBP`.
    public static func sniff(_ data: Data) -> ImageFormat? {
        let head = Array(data.prefix(12))
        if head.count >= 8, head[0..<8].elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            return .png
        }
        if head.count >= 3, head[0] == 0xFF, head[1] == 0xD8, head[2] == 0xFF {
            return .jpeg
        }
        if head.count >= 12, head[0..<4].elementsEqual(Array("RIFF".utf8)),
           head[8..<12].elementsEqual(Array("WEBP".utf8)) {
            return .webp
        }
        return nil
    }

    /// Reads format, size and alpha from the header only; no pixels are
    /// decoded and no limits are applied (see ``DecodeLimits/check(width:height:)``).
    ///
    /// - Throws: ``ImageError`` with `.unsupportedFormat` for anything that is
    ///   not PNG/JPEG/still WebP (naming what was recognised), or `.corrupt`
    ///   when the header cannot be parsed.
    public static func readHeader(_ data: Data) throws -> ImageHeader {
        let format = try requireFormat(data)
        return try data.withUnsafeBytes { bytes in
            try header(of: format, bytes)
        }
    }

    /// Decodes PNG/JPEG/WebP to 8-bit RGB (no alpha in the source) or RGBA
    /// (alpha present), checking width, height and pixel count from the
    /// header BEFORE allocating or decoding.
    ///
    /// PNG gray, gray+alpha, palette (with or without tRNS) and 16-bit inputs
    /// are normalised exactly as Pillow 10.4's `convert("RGB"/"RGBA")`: 16-bit
    /// samples keep their high byte, tRNS becomes alpha, gray is replicated.
    /// Grayscale JPEG comes back as RGB; CMYK JPEG and animated WebP are
    /// refused as `.unsupportedFormat`.
    ///
    /// - Throws: ``ImageError`` `.tooLarge`, `.corrupt` or `.unsupportedFormat`.
    public static func decode(_ data: Data, limits: DecodeLimits = .init()) throws -> Image {
        let format = try requireFormat(data)
        return try data.withUnsafeBytes { bytes in
            let header = try header(of: format, bytes)
            try limits.check(width: header.width, height: header.height)
            switch format {
            case .png: return try PNGCodec.decode(bytes, header: header)
            case .jpeg: return try JPEGCodec.decode(bytes, header: header)
            case .webp: return try WebPCodec.decode(bytes, header: header)
            }
        }
    }

    /// Encodes an RGB, RGBA, gray or gray+alpha image.
    ///
    /// - `quality` (clamped to 1...100) applies to JPEG and lossy WebP; PNG
    ///   ignores it.
    /// - `lossless` selects lossless WebP; other formats ignore it.
    /// - JPEG has no alpha: the alpha channel is dropped (not composited), and
    ///   RGB is written with 4:2:0 chroma subsampling; gray stays one-channel.
    /// - WebP stores gray as RGB.
    ///
    /// - Throws: ``ImageError`` `.encodeFailed` for an inconsistent or empty
    ///   image, a size the format cannot hold, or a codec failure.
    public static func encode(_ image: Image, as format: ImageFormat, quality: Int = 90,
                              lossless: Bool = false) throws -> Data {
        guard image.isConsistent else {
            throw ImageError(.encodeFailed,
                             "pixel buffer holds \(image.pixels.count) bytes; a \(image.width)×\(image.height) image with \(image.channels) channels needs \(image.width * image.height * image.channels)")
        }
        guard image.width > 0, image.height > 0 else {
            throw ImageError(.encodeFailed, "cannot encode an empty \(image.width)×\(image.height) image")
        }
        let quality = min(max(quality, 1), 100)
        switch format {
        case .png: return try PNGCodec.encode(image)
        case .jpeg: return try JPEGCodec.encode(image, quality: quality)
        case .webp: return try WebPCodec.encode(image, quality: quality, lossless: lossless)
        }
    }

    // MARK: - Internals

    private static func header(of format: ImageFormat, _ bytes: UnsafeRawBufferPointer) throws -> ImageHeader {
        switch format {
        case .png: try PNGCodec.header(bytes)
        case .jpeg: try JPEGCodec.header(bytes)
        case .webp: try WebPCodec.header(bytes)
        }
    }

    private static func requireFormat(_ data: Data) throws -> ImageFormat {
        if let format = sniff(data) { return format }
        if let damage = describeDamagedMagic(data) { throw ImageError(.corrupt, damage) }
        throw ImageError(.unsupportedFormat, describeUnsupported(data))
    }

    /// Data that starts like a supported format but ends inside its magic
    /// bytes, or a PNG signature mangled in transit (e.g. by CRLF
    /// conversion), is a damaged upload rather than another format.
    static func describeDamagedMagic(_ data: Data) -> String? {
        let head = Array(data.prefix(12))
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        let riff = Array("RIFF".utf8), webp = Array("WEBP".utf8)
        if head.count >= 2, head.count < 8, png.starts(with: head) {
            return "data ends inside the PNG signature (\(head.count) bytes)"
        }
        if head.count >= 4, head.starts(with: png.prefix(4)) {
            return "damaged PNG signature (bytes altered in transit?)"
        }
        if head.count == 2, head == [0xFF, 0xD8] { return "data ends inside the JPEG header (2 bytes)" }
        if head.count >= 4, head.count < 12, head.starts(with: riff), webp.starts(with: head.dropFirst(8)) {
            return "data ends inside the WebP header (\(head.count) bytes)"
        }
        return nil
    }

    /// Names what the bytes look like so a client learns why it was refused.
    static func describeUnsupported(_ data: Data) -> String {
        let accepted = "only PNG, JPEG and WebP are accepted"
        if data.isEmpty { return "empty data is not an image; \(accepted)" }
        let head = Array(data.prefix(16))
        func starts(_ prefix: [UInt8]) -> Bool { head.starts(with: prefix) }
        func starts(_ text: String) -> Bool { head.starts(with: Array(text.utf8)) }
        let name: String?
        if starts("GIF87a") || starts("GIF89a") { name = "GIF" }
        else if starts("BM") { name = "BMP" }
        else if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { name = "TIFF" }
        else if starts("8BPS") { name = "PSD" }
        else if starts("%PDF") { name = "PDF" }
        else if starts("%!PS") || starts([0xC5, 0xD0, 0xD3, 0xC6]) { name = "EPS/PostScript" }
        else if starts("SIMPLE  =") { name = "FITS" }
        else if starts([0x00, 0x00, 0x01, 0x00]) { name = "ICO" }
        else if starts("qoif") { name = "QOI" }
        else if starts([0xFF, 0x0A]) || starts([0x00, 0x00, 0x00, 0x0C, 0x4A, 0x58, 0x4C, 0x20]) { name = "JPEG XL" }
        else if starts([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]) || starts([0xFF, 0x4F, 0xFF, 0x51]) { name = "JPEG 2000" }
        else if head.count >= 12, head[4..<8].elementsEqual(Array("ftyp".utf8)) { name = "HEIF/AVIF" }
        else if starts("RIFF") { name = "RIFF container that is not WebP" }
        else if let text = String(bytes: head, encoding: .utf8),
                text.drop(while: { $0.isWhitespace }).hasPrefix("<") { name = "SVG/XML" }
        else { name = nil }
        if let name { return "unsupported image format: \(name); \(accepted)" }
        let hex = head.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        return "unrecognised image data (starts with \(hex)); \(accepted)"
    }
}
