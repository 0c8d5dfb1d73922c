import CWebP
import Foundation

/// Still WebP through libwebp 1.2.4. Animated files are refused: a frame
/// count is not bounded by the canvas size, so they are a CPU/memory bomb,
/// and Gantry has no use for animation.
enum WebPCodec {
    /// The format's per-side limit (WEBP_MAX_DIMENSION).
    static let maxSide = 16_383

    /// Reads the VP8/VP8L/VP8X headers via WebPGetFeatures.
    static func header(_ bytes: UnsafeRawBufferPointer) throws -> ImageHeader {
        var features = WebPBitstreamFeatures()
        let status = WebPGetFeatures(bytes.uint8Base, bytes.count, &features)
        guard status == VP8_STATUS_OK else {
            throw error(for: status, while: "reading the WebP header")
        }
        if features.has_animation != 0 {
            throw ImageError(.unsupportedFormat, "animated WebP is not supported; send a still image")
        }
        return ImageHeader(format: .webp, width: Int(features.width), height: Int(features.height),
                           hasAlpha: features.has_alpha != 0)
    }

    /// Decodes straight into the result buffer (external memory), so the only
    /// allocation is the one sized from the limit-checked header.
    static func decode(_ bytes: UnsafeRawBufferPointer, header: ImageHeader) throws -> Image {
        let channels = header.hasAlpha ? 4 : 3
        let count = header.width * header.height * channels
        var config = WebPDecoderConfig()
        guard WebPInitDecoderConfig(&config) != 0 else {
            throw ImageError(.corrupt, "libwebp version mismatch")
        }
        let pixels = try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            config.output.colorspace = header.hasAlpha ? MODE_RGBA : MODE_RGB
            config.output.is_external_memory = 1
            config.output.width = Int32(header.width)
            config.output.height = Int32(header.height)
            config.output.u.RGBA.rgba = buffer.baseAddress
            config.output.u.RGBA.stride = Int32(header.width * channels)
            config.output.u.RGBA.size = count
            let status = WebPDecode(bytes.uint8Base, bytes.count, &config)
            // With external memory this frees nothing of ours; it is called
            // so any internal allocation libwebp made is released.
            WebPFreeDecBuffer(&config.output)
            guard status == VP8_STATUS_OK else {
                throw error(for: status, while: "decoding WebP")
            }
            initialized = count
        }
        return Image(width: header.width, height: header.height, channels: channels, pixels: pixels)
    }

    /// Encodes lossy (`quality` 1...100) or lossless. Lossless sets `exact`
    /// so RGB under fully transparent pixels survives (libwebp's simple API
    /// would zero it, breaking exact round trips). Gray is stored as RGB.
    static func encode(_ image: Image, quality: Int, lossless: Bool) throws -> Data {
        guard image.width <= maxSide, image.height <= maxSide else {
            throw ImageError(.encodeFailed,
                             "WebP cannot hold a \(image.width)×\(image.height) image (max \(maxSide) per side)")
        }
        let source: Image
        switch image.channels {
        case 1: source = image.converted(toChannels: 3)
        case 2: source = image.converted(toChannels: 4)
        default: source = image
        }
        var config = WebPConfig()
        // Lossless "quality" is compression effort; 70 matches libwebp's own
        // WebPEncodeLossless* default.
        let q = Float(lossless ? 70 : quality)
        guard WebPConfigPreset(&config, WEBP_PRESET_DEFAULT, q) != 0 else {
            throw ImageError(.encodeFailed, "libwebp version mismatch")
        }
        config.lossless = lossless ? 1 : 0
        config.exact = lossless ? 1 : 0
        var picture = WebPPicture()
        guard WebPPictureInit(&picture) != 0 else {
            throw ImageError(.encodeFailed, "libwebp version mismatch")
        }
        defer { WebPPictureFree(&picture) }
        picture.use_argb = lossless ? 1 : 0
        picture.width = Int32(source.width)
        picture.height = Int32(source.height)
        let stride = Int32(source.width * source.channels)
        let imported = source.pixels.withUnsafeBufferPointer { pixels in
            source.channels == 4
                ? WebPPictureImportRGBA(&picture, pixels.baseAddress, stride)
                : WebPPictureImportRGB(&picture, pixels.baseAddress, stride)
        }
        guard imported != 0 else {
            throw ImageError(.encodeFailed, "WebP import failed (\(describe(picture.error_code)))")
        }
        var writer = WebPMemoryWriter()
        WebPMemoryWriterInit(&writer)
        defer { WebPMemoryWriterClear(&writer) }
        let ok = withUnsafeMutablePointer(to: &writer) { writerPointer in
            picture.writer = WebPMemoryWrite
            picture.custom_ptr = UnsafeMutableRawPointer(writerPointer)
            return WebPEncode(&config, &picture)
        }
        guard ok != 0, let memory = writer.mem else {
            throw ImageError(.encodeFailed, "WebP encoding failed (\(describe(picture.error_code)))")
        }
        return Data(bytes: memory, count: writer.size)
    }

    /// Maps a libwebp status to our error categories with a readable reason.
    private static func error(for status: VP8StatusCode, while action: String) -> ImageError {
        switch status {
        case VP8_STATUS_NOT_ENOUGH_DATA:
            ImageError(.corrupt, "WebP data is truncated (\(action))")
        case VP8_STATUS_UNSUPPORTED_FEATURE:
            ImageError(.unsupportedFormat, "WebP uses a feature libwebp does not support (\(action))")
        case VP8_STATUS_OUT_OF_MEMORY:
            ImageError(.corrupt, "out of memory \(action)")
        default:
            ImageError(.corrupt, "WebP data is invalid: bitstream error \(status.rawValue) while \(action)")
        }
    }

    private static func describe(_ code: WebPEncodingError) -> String {
        switch code {
        case VP8_ENC_ERROR_OUT_OF_MEMORY, VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY: "out of memory"
        case VP8_ENC_ERROR_BAD_DIMENSION: "bad dimensions"
        case VP8_ENC_ERROR_FILE_TOO_BIG: "output larger than 4 GB"
        case VP8_ENC_OK: "no error reported"
        default: "libwebp error \(code.rawValue)"
        }
    }
}
