import CTurboJPEG
import Foundation

/// JPEG through TurboJPEG's 2.x API (bookworm ships libjpeg-turbo 2.1.5, so
/// the tj3* functions do not exist). TurboJPEG's C enums import as structs,
/// hence the `Int32(X.rawValue)` conversions.
enum JPEGCodec {
    /// JPEG's format limit; larger images cannot be encoded.
    static let maxSide = 65_535

    /// libjpeg's wording for running out of data, surfaced by TurboJPEG as a
    /// warning rather than an error.
    private static let truncationWarning = "Premature end of JPEG file"

    /// Parses the markers up to SOS; refuses CMYK/YCCK, which Gantry's
    /// RGB-only pipeline cannot represent faithfully.
    static func header(_ bytes: UnsafeRawBufferPointer) throws -> ImageHeader {
        guard let handle = tjInitDecompress() else {
            throw ImageError(.corrupt, "could not create a JPEG decoder")
        }
        defer { tjDestroy(handle) }
        var width: Int32 = 0
        var height: Int32 = 0
        var subsampling: Int32 = 0
        var colorspace: Int32 = 0
        let rc = tjDecompressHeader3(handle, bytes.uint8Base, UInt(bytes.count),
                                     &width, &height, &subsampling, &colorspace)
        guard rc == 0 else {
            throw ImageError(.corrupt, "JPEG header is invalid: \(reason(handle))")
        }
        // On data that ends before any frame header libjpeg reports
        // "tables only" and TurboJPEG 2.x passes that on as success with a
        // 0×0 size.
        guard width > 0, height > 0 else {
            throw ImageError(.corrupt, "JPEG data is truncated or holds no image (no frame header before the end)")
        }
        if colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue) {
            throw ImageError(.unsupportedFormat,
                             "CMYK JPEG is not supported; convert the image to RGB before uploading")
        }
        return ImageHeader(format: .jpeg, width: Int(width), height: Int(height), hasAlpha: false)
    }

    /// Decodes to RGB (grayscale JPEGs are expanded to R=G=B by libjpeg).
    ///
    /// Accurate IDCT and fancy upsampling are TurboJPEG's defaults, as in
    /// Pillow. Progressive files with more than 500 scans are refused
    /// (TJFLAG_LIMITSCANS) because each scan re-walks the whole coefficient
    /// buffer — a cheap CPU bomb otherwise.
    static func decode(_ bytes: UnsafeRawBufferPointer, header: ImageHeader) throws -> Image {
        guard let handle = tjInitDecompress() else {
            throw ImageError(.corrupt, "could not create a JPEG decoder")
        }
        defer { tjDestroy(handle) }
        let count = header.width * header.height * 3
        let flags = TJFLAG_LIMITSCANS
        let pixels = try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            let rc = tjDecompress2(handle, bytes.uint8Base, UInt(bytes.count), buffer.baseAddress,
                                   Int32(header.width), Int32(header.width * 3), Int32(header.height),
                                   Int32(TJPF_RGB.rawValue), flags)
            // On success and on warnings libjpeg has written every row (it
            // pads missing data itself); on fatal errors we throw below.
            initialized = count
            if rc != 0 {
                let message = reason(handle)
                let isWarning = tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue)
                // Warnings such as "extraneous bytes before marker" leave a
                // complete image (Pillow accepts those too); running out of
                // data does not.
                if !isWarning || message.contains(truncationWarning) {
                    throw ImageError(.corrupt, "JPEG data is invalid: \(message)")
                }
            }
        }
        return Image(width: header.width, height: header.height, channels: 3, pixels: pixels)
    }

    /// Encodes with 4:2:0 chroma subsampling; gray stays a one-component
    /// JPEG, and any alpha channel is ignored (JPEG cannot store it).
    static func encode(_ image: Image, quality: Int) throws -> Data {
        guard image.width <= maxSide, image.height <= maxSide else {
            throw ImageError(.encodeFailed,
                             "JPEG cannot hold a \(image.width)×\(image.height) image (max \(maxSide) per side)")
        }
        // TurboJPEG has no gray+alpha layout, so drop alpha up front.
        let source = image.channels == 2 ? image.converted(toChannels: 1) : image
        let pixelFormat: TJPF
        let subsampling: TJSAMP
        switch source.channels {
        case 1: (pixelFormat, subsampling) = (TJPF_GRAY, TJSAMP_GRAY)
        case 3: (pixelFormat, subsampling) = (TJPF_RGB, TJSAMP_420)
        default: (pixelFormat, subsampling) = (TJPF_RGBA, TJSAMP_420) // alpha ignored
        }
        guard let handle = tjInitCompress() else {
            throw ImageError(.encodeFailed, "could not create a JPEG encoder")
        }
        defer { tjDestroy(handle) }
        var output: UnsafeMutablePointer<UInt8>?
        var length: UInt = 0
        let rc = source.pixels.withUnsafeBufferPointer { pixels in
            tjCompress2(handle, pixels.baseAddress, Int32(source.width),
                        Int32(source.width * source.channels), Int32(source.height),
                        Int32(pixelFormat.rawValue), &output, &length,
                        Int32(subsampling.rawValue), Int32(quality), 0)
        }
        defer { if let output { tjFree(output) } }
        guard rc == 0, let output else {
            throw ImageError(.encodeFailed, "JPEG encoding failed: \(reason(handle))")
        }
        return Data(bytes: output, count: Int(length))
    }

    /// TurboJPEG's per-handle error text.
    private static func reason(_ handle: tjhandle) -> String {
        guard let text = tjGetErrorStr2(handle) else { return "unknown TurboJPEG error" }
        return String(cString: text)
    }
}
