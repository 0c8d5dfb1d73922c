import Foundation
import CPNGShim

/// PNG through the C shim, which owns libpng's setjmp/longjmp error handling
/// (a longjmp across Swift frames would be undefined behaviour).
enum PNGCodec {
    /// zlib level for encoding: libpng's default, a good size/speed balance
    /// for the photographic outputs Gantry mostly serves.
    static let compressionLevel: Int32 = 6

    /// Parses IHDR and the chunks before the first IDAT.
    static func header(_ bytes: UnsafeRawBufferPointer) throws -> ImageHeader {
        var width: UInt32 = 0
        var height: UInt32 = 0
        var hasAlpha: Int32 = 0
        try call("PNG header") { errbuf, errlen in
            cpng_read_header(bytes.uint8Base, bytes.count, &width, &height, &hasAlpha, errbuf, errlen)
        }
        return ImageHeader(format: .png, width: Int(width), height: Int(height), hasAlpha: hasAlpha != 0)
    }

    /// Decodes into a buffer sized from the (already limit-checked) header.
    static func decode(_ bytes: UnsafeRawBufferPointer, header: ImageHeader) throws -> Image {
        let channels = header.hasAlpha ? 4 : 3
        let count = header.width * header.height * channels
        let pixels = try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            try call("PNG") { errbuf, errlen in
                cpng_decode(bytes.uint8Base, bytes.count, UInt32(header.width), UInt32(header.height),
                            Int32(channels), buffer.baseAddress, count, errbuf, errlen)
            }
            initialized = count
        }
        return Image(width: header.width, height: header.height, channels: channels, pixels: pixels)
    }

    /// Encodes 1–4 channel 8-bit pixels without interlacing.
    static func encode(_ image: Image) throws -> Data {
        guard image.width <= Int(Int32.max), image.height <= Int(Int32.max) else {
            throw ImageError(.encodeFailed, "image is too large for PNG")
        }
        var output: UnsafeMutablePointer<UInt8>?
        var length = 0
        do {
            try image.pixels.withUnsafeBufferPointer { pixels in
                try call("PNG encode") { errbuf, errlen in
                    cpng_encode(pixels.baseAddress, UInt32(image.width), UInt32(image.height),
                                Int32(image.channels), compressionLevel, &output, &length, errbuf, errlen)
                }
            }
        } catch let error as ImageError {
            throw ImageError(.encodeFailed, error.message)
        }
        guard let output else { throw ImageError(.encodeFailed, "libpng produced no output") }
        defer { cpng_free(output) }
        return Data(bytes: output, count: length)
    }

    /// Runs a shim function with an error buffer and maps its return code.
    private static func call(_ what: String,
                             _ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws {
        var errbuf = [CChar](repeating: 0, count: Int(CPNG_ERRBUF_SIZE))
        let rc = errbuf.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
        guard rc != 0 else { return }
        let reason = String(decoding: errbuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw ImageError(.corrupt, "\(what) data is invalid: \(reason.isEmpty ? "unknown libpng error" : reason)")
    }
}

extension UnsafeRawBufferPointer {
    /// The bytes as `const uint8_t *` for C; nil only for an empty buffer,
    /// which every C entry point here rejects by length before reading.
    var uint8Base: UnsafePointer<UInt8>? {
        baseAddress?.assumingMemoryBound(to: UInt8.self)
    }
}
