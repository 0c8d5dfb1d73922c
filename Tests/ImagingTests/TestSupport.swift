import Foundation
@testable import Imaging

/// Helpers for building PNG bytes by hand in tests, so crafted inputs (pixel
/// bombs, oversized chunks) need no external tools or fixture files.
enum PNGBuilder {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Standard CRC-32 (IEEE, reflected) as PNG chunks require; table-driven
    /// because the chunk-bomb test checksums megabytes in a debug build.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        bytes.withUnsafeBufferPointer { buffer in
            for byte in buffer {
                crc = crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
            }
        }
        return ~crc
    }

    private static let crcTable: [UInt32] = (0..<256).map { (n: UInt32) in
        var c = n
        for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        return c
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    /// One chunk: length, type, data, CRC over type+data.
    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typeBytes = Array(type.utf8)
        return bigEndian(UInt32(data.count)) + typeBytes + data + bigEndian(crc32(typeBytes + data))
    }

    static func ihdr(width: UInt32, height: UInt32, bitDepth: UInt8 = 8, colorType: UInt8 = 2) -> [UInt8] {
        chunk("IHDR", bigEndian(width) + bigEndian(height) + [bitDepth, colorType, 0, 0, 0])
    }

    /// A zlib stream made of stored (uncompressed) deflate blocks, which is
    /// all a test needs to produce valid IDAT data without a compressor.
    static func zlibStored(_ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let n = min(65_535, payload.count - offset)
            let final: UInt8 = offset + n == payload.count ? 1 : 0
            out += [final, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += payload[offset..<offset + n]
            offset += n
        } while offset < payload.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in payload { a = (a + UInt32(byte)) % 65_521; b = (b + a) % 65_521 }
        return out + bigEndian(b << 16 | a)
    }

    /// A complete 8-bit RGB PNG built from raw pixels, with optional extra
    /// chunks placed between IHDR and IDAT.
    static func rgb(width: Int, height: Int, pixels: [UInt8], extra: [UInt8] = []) -> Data {
        var raw: [UInt8] = []
        for y in 0..<height {
            raw.append(0) // filter type None
            raw += pixels[(y * width * 3)..<((y + 1) * width * 3)]
        }
        let bytes = signature + ihdr(width: UInt32(width), height: UInt32(height)) + extra
            + chunk("IDAT", zlibStored(raw)) + chunk("IEND", [])
        return Data(bytes)
    }
}

/// Deterministic pseudo-random bytes (SplitMix64) so failures reproduce.
struct SeededBytes {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }
}

/// A smooth test picture (gradients), which lossy codecs reproduce closely.
func gradientImage(width: Int, height: Int, channels: Int) -> Image {
    var image = Image(width: width, height: height, channels: channels)
    for y in 0..<height {
        for x in 0..<width {
            let i = (y * width + x) * channels
            for c in 0..<channels {
                let value = c == 3 ? 255 - (x * 2 + y) : (x * 255 / max(width - 1, 1) + y * 64 / max(height - 1, 1) + c * 40)
                image.pixels[i + c] = UInt8(clamping: value)
            }
        }
    }
    return image
}

/// Largest absolute per-sample difference between two same-shape images.
func maxDifference(_ a: Image, _ b: Image) -> Int {
    precondition(a.pixels.count == b.pixels.count)
    return zip(a.pixels, b.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
}

extension Data {
    /// Decodes a base64 fixture literal; fixtures are constants, so failure is a test bug.
    init(fixture base64: String) {
        self = Data(base64Encoded: base64)!
    }
}
