import Foundation
import Testing
@testable import Imaging

/// Size limits are enforced from the header, before any pixel allocation.
@Suite struct LimitsTests {
    /// A valid signature, an IHDR with a correct CRC claiming the given size,
    /// and a tiny IDAT: all a pixel bomb needs to look legitimate.
    static func pngClaiming(width: UInt32, height: UInt32) -> Data {
        Data(PNGBuilder.signature + PNGBuilder.ihdr(width: width, height: height)
            + PNGBuilder.chunk("IDAT", PNGBuilder.zlibStored([0, 0, 0, 0]))
            + PNGBuilder.chunk("IEND", []))
    }

    /// A real JPEG whose SOF0 marker is patched to claim another size.
    static func jpegClaiming(width: Int, height: Int) throws -> Data {
        var bytes = [UInt8](try ImageCodec.encode(gradientImage(width: 16, height: 16, channels: 3), as: .jpeg))
        let sof = try #require((0..<bytes.count - 9).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 })
        bytes[sof + 5] = UInt8(height >> 8); bytes[sof + 6] = UInt8(height & 0xFF)
        bytes[sof + 7] = UInt8(width >> 8); bytes[sof + 8] = UInt8(width & 0xFF)
        return Data(bytes)
    }

    @Test func pngBombIsRefusedFromTheHeaderAlone() throws {
        let data = Self.pngClaiming(width: 50_000, height: 50_000)
        #expect(data.count < 100)
        let header = try ImageCodec.readHeader(data)
        #expect(header.width == 50_000 && header.height == 50_000)
        let start = ContinuousClock.now
        let error = #expect(throws: ImageError.self) { try ImageCodec.decode(data) }
        #expect(ContinuousClock.now - start < .milliseconds(500))
        #expect(error?.code == .tooLarge)
        #expect(error?.message == "image is 50000×50000 (2500000000 pixels); the limit is 40000000 pixels and 16384 per side")
        #expect(error?.description.hasPrefix("image_too_large: ") == true)
    }

    @Test func pngAtTheLargestLegalWidthIsTooLargeNotCorrupt() {
        let data = Self.pngClaiming(width: 0x7FFF_FFFF, height: 1)
        let error = #expect(throws: ImageError.self) { try ImageCodec.decode(data) }
        #expect(error?.code == .tooLarge)
    }

    @Test(arguments: [(50_000, 50_000), (65_000, 65_000), (20_000, 1)])
    func jpegBombIsRefusedFromTheHeaderAlone(width: Int, height: Int) throws {
        let data = try Self.jpegClaiming(width: width, height: height)
        let start = ContinuousClock.now
        let error = #expect(throws: ImageError.self) { try ImageCodec.decode(data) }
        #expect(ContinuousClock.now - start < .milliseconds(500))
        #expect(error?.code == .tooLarge)
        #expect(error?.message.hasPrefix("image is \(width)×\(height) ") == true)
    }

    @Test func webpBombIsRefusedFromTheHeaderAlone() throws {
        var bytes = [UInt8](try ImageCodec.encode(gradientImage(width: 8, height: 8, channels: 3), as: .webp, lossless: true))
        // Simple lossless layout: RIFF header (12), "VP8L", size (4), 0x2F, then
        // 14 bits width-1, 14 bits height-1, alpha and version bits.
        #expect(Array(bytes[12..<16]) == Array("VP8L".utf8) && bytes[20] == 0x2F)
        var bits = UInt32(bytes[21]) | UInt32(bytes[22]) << 8 | UInt32(bytes[23]) << 16 | UInt32(bytes[24]) << 24
        bits = (bits & 0xF000_0000) | 16_382 | (16_382 << 14)
        for i in 0..<4 { bytes[21 + i] = UInt8((bits >> (8 * UInt32(i))) & 0xFF) }
        let error = #expect(throws: ImageError.self) { try ImageCodec.decode(Data(bytes)) }
        #expect(error?.code == .tooLarge)
        #expect(error?.message.hasPrefix("image is 16383×16383 (268402689 pixels)") == true)
    }

    @Test(arguments: ImageFormat.allCases)
    func pixelLimitBoundary(format: ImageFormat) throws {
        let exact = try ImageCodec.encode(gradientImage(width: 4, height: 3, channels: 3), as: format)
        let limits = DecodeLimits(maxPixels: 12, maxSide: 4)
        let image = try ImageCodec.decode(exact, limits: limits)
        #expect(image.width == 4 && image.height == 3)

        let onePixelMore = try ImageCodec.encode(gradientImage(width: 13, height: 1, channels: 3), as: format)
        let error = #expect(throws: ImageError.self) {
            try ImageCodec.decode(onePixelMore, limits: DecodeLimits(maxPixels: 12, maxSide: 100))
        }
        #expect(error?.code == .tooLarge)
        #expect(error?.message == "image is 13×1 (13 pixels); the limit is 12 pixels and 100 per side")
    }

    @Test(arguments: ImageFormat.allCases)
    func sideLimitBoundary(format: ImageFormat) throws {
        let data = try ImageCodec.encode(gradientImage(width: 5, height: 2, channels: 3), as: format)
        #expect(try ImageCodec.decode(data, limits: DecodeLimits(maxPixels: 1_000, maxSide: 5)).width == 5)
        let error = #expect(throws: ImageError.self) {
            try ImageCodec.decode(data, limits: DecodeLimits(maxPixels: 1_000, maxSide: 4))
        }
        #expect(error?.code == .tooLarge)
    }

    @Test func checkHandlesOverflowAndEmptySizes() {
        let limits = DecodeLimits()
        #expect(limits.maxPixels == 40_000_000 && limits.maxSide == 16_384)
        #expect(throws: Never.self) { try limits.check(width: 16_384, height: 2_441) }
        let overflow = #expect(throws: ImageError.self) { try limits.check(width: Int.max, height: 2) }
        #expect(overflow?.code == .tooLarge)
        let empty = #expect(throws: ImageError.self) { try limits.check(width: 0, height: 10) }
        #expect(empty?.code == .corrupt)
    }
}
