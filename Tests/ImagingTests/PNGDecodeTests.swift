import Foundation
import Testing
@testable import Imaging

/// PNG normalisation against Pillow's values, and PNG-specific hostile input.
@Suite struct PNGDecodeTests {
    @Test(arguments: Fixtures.png)
    func decodesFixtureLikePillow(_ fixture: PNGFixture) throws {
        let data = Data(fixture: fixture.base64)
        let header = try ImageCodec.readHeader(data)
        #expect(header.format == .png)
        #expect(header.width == fixture.width && header.height == fixture.height)
        #expect(header.hasAlpha == (fixture.channels == 4))
        let image = try ImageCodec.decode(data)
        #expect(image.width == fixture.width)
        #expect(image.height == fixture.height)
        #expect(image.channels == fixture.channels)
        #expect(image.pixels == fixture.expected)
    }

    @Test func truncatedPNGIsCorrupt() throws {
        let original = try ImageCodec.encode(gradientImage(width: 64, height: 64, channels: 3), as: .png)
        for length in [original.count / 2, 40, 20, 9] {
            let error = #expect(throws: ImageError.self) { try ImageCodec.decode(original.prefix(length)) }
            #expect(error?.code == .corrupt, "length \(length): \(String(describing: error))")
        }
    }

    @Test func everyPrefixAndBitFlipFailsCleanly() throws {
        let original = try ImageCodec.encode(gradientImage(width: 9, height: 7, channels: 4), as: .png)
        for length in 0..<original.count {
            // Must never crash; anything but an ImageError fails the test.
            do { _ = try ImageCodec.decode(original.prefix(length)) } catch is ImageError {}
        }
        var random = SeededBytes(state: 42)
        for _ in 0..<300 {
            var bytes = [UInt8](original)
            let index = Int(random.next() % UInt64(bytes.count))
            bytes[index] ^= UInt8(truncatingIfNeeded: random.next() | 1)
            do { _ = try ImageCodec.decode(Data(bytes)) } catch is ImageError {}
        }
    }

    @Test func badCRCInCriticalChunkIsCorrupt() {
        var bytes = [UInt8](PNGBuilder.rgb(width: 2, height: 2, pixels: [UInt8](repeating: 9, count: 12)))
        bytes[29] ^= 0xFF // last CRC byte of IHDR
        let error = #expect(throws: ImageError.self) { try ImageCodec.decode(Data(bytes)) }
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains("CRC") == true)
    }

    @Test func hugeAncillaryChunksAreSkippedQuickly() throws {
        // 9 MB tEXt plus a zTXt whose payload would inflate enormously, both
        // before IDAT: libpng must skip them rather than buffer or inflate.
        let text = PNGBuilder.chunk("tEXt", Array("Comment\0".utf8) + [UInt8](repeating: 0x41, count: 9_000_000))
        let bombBody = Array("Comment\0".utf8) + [0] + PNGBuilder.zlibStored([UInt8](repeating: 0, count: 3_000_000))
        let ztxt = PNGBuilder.chunk("zTXt", bombBody)
        let iccp = PNGBuilder.chunk("iCCP", Array("icc\0".utf8) + [0] + PNGBuilder.zlibStored([UInt8](repeating: 7, count: 5_000_000)))
        let pixels: [UInt8] = [1, 2, 3, 4, 5, 6]
        let data = PNGBuilder.rgb(width: 2, height: 1, pixels: pixels, extra: text + ztxt + iccp)
        let start = ContinuousClock.now
        let image = try ImageCodec.decode(data)
        #expect(ContinuousClock.now - start < .seconds(2))
        #expect(image.pixels == pixels)
    }

    @Test func missingIENDIsTolerated() throws {
        let data = PNGBuilder.rgb(width: 2, height: 1, pixels: [1, 2, 3, 4, 5, 6])
        let image = try ImageCodec.decode(data.prefix(data.count - 12))
        #expect(image.pixels == [1, 2, 3, 4, 5, 6])
    }

    @Test func invalidIHDRIsCorrupt() {
        // Bit depth 3 does not exist.
        let bytes = PNGBuilder.signature + PNGBuilder.ihdr(width: 4, height: 4, bitDepth: 3, colorType: 0)
            + PNGBuilder.chunk("IDAT", PNGBuilder.zlibStored([0, 0])) + PNGBuilder.chunk("IEND", [])
        let error = #expect(throws: ImageError.self) { try ImageCodec.readHeader(Data(bytes)) }
        #expect(error?.code == .corrupt)
    }

    @Test func sixteenBitGrayKeepsHighByte() throws {
        // Documents the one deliberate divergence from Pillow (see Fixtures).
        let fixture = try #require(Fixtures.png.first { $0.name == "gray16" })
        let image = try ImageCodec.decode(Data(fixture: fixture.base64))
        #expect(image.pixels == [0x12, 0x12, 0x12, 0x00, 0x00, 0x00])
    }

    @Test func worksOnDataSlicesWithNonZeroStartIndex() throws {
        let png = PNGBuilder.rgb(width: 1, height: 1, pixels: [7, 8, 9])
        let padded = Data([0xAA, 0xBB, 0xCC]) + png
        let slice = padded[3...]
        #expect(slice.startIndex == 3)
        #expect(ImageCodec.sniff(slice) == .png)
        #expect(try ImageCodec.decode(slice).pixels == [7, 8, 9])
    }
}
