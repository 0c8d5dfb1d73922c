import Foundation
import Testing
@testable import Imaging

/// Encode → decode round trips for every format and channel layout.
@Suite struct RoundTripTests {
    @Test(arguments: [3, 4])
    func pngIsExact(channels: Int) throws {
        let image = gradientImage(width: 37, height: 23, channels: channels)
        let data = try ImageCodec.encode(image, as: .png)
        #expect(ImageCodec.sniff(data) == .png)
        #expect(try ImageCodec.decode(data) == image)
    }

    @Test func pngGrayAndGrayAlphaComeBackExpanded() throws {
        let gray = gradientImage(width: 5, height: 4, channels: 1)
        #expect(try ImageCodec.decode(ImageCodec.encode(gray, as: .png)) == gray.converted(toChannels: 3))
        let grayAlpha = gradientImage(width: 5, height: 4, channels: 2)
        #expect(try ImageCodec.decode(ImageCodec.encode(grayAlpha, as: .png)) == grayAlpha.converted(toChannels: 4))
    }

    @Test func jpegIsCloseAndHonoursQuality() throws {
        let image = gradientImage(width: 64, height: 48, channels: 3)
        let high = try ImageCodec.encode(image, as: .jpeg, quality: 95)
        let low = try ImageCodec.encode(image, as: .jpeg, quality: 10)
        #expect(ImageCodec.sniff(high) == .jpeg)
        #expect(low.count < high.count)
        let decoded = try ImageCodec.decode(high)
        #expect(decoded.channels == 3 && decoded.width == 64 && decoded.height == 48)
        #expect(maxDifference(decoded, image) <= 12)
    }

    @Test func jpegDropsAlpha() throws {
        let rgba = gradientImage(width: 32, height: 16, channels: 4)
        let data = try ImageCodec.encode(rgba, as: .jpeg, quality: 95)
        #expect(try ImageCodec.readHeader(data).hasAlpha == false)
        let decoded = try ImageCodec.decode(data)
        #expect(decoded.channels == 3)
        #expect(maxDifference(decoded, rgba.converted(toChannels: 3)) <= 12)
    }

    @Test func jpegOfGrayIsGrayscaleAndDecodesToRGB() throws {
        let gray = gradientImage(width: 16, height: 16, channels: 1)
        let decoded = try ImageCodec.decode(ImageCodec.encode(gray, as: .jpeg, quality: 100))
        #expect(decoded.channels == 3)
        #expect(maxDifference(decoded, gray.converted(toChannels: 3)) <= 3)
        let grayAlpha = gradientImage(width: 16, height: 16, channels: 2)
        #expect(try ImageCodec.decode(ImageCodec.encode(grayAlpha, as: .jpeg)).channels == 3)
    }

    @Test(arguments: [3, 4])
    func webpLossyIsClose(channels: Int) throws {
        let image = gradientImage(width: 40, height: 30, channels: channels)
        let data = try ImageCodec.encode(image, as: .webp, quality: 95)
        #expect(ImageCodec.sniff(data) == .webp)
        let header = try ImageCodec.readHeader(data)
        #expect(header.hasAlpha == (channels == 4))
        let decoded = try ImageCodec.decode(data)
        #expect(decoded.channels == channels)
        #expect(maxDifference(decoded, image) <= 16)
    }

    @Test(arguments: [1, 2, 3, 4])
    func webpLosslessIsExact(channels: Int) throws {
        var image = gradientImage(width: 21, height: 13, channels: channels)
        if channels == 4 {
            // Colour under fully transparent pixels must survive too.
            image.pixels[3] = 0
            image.pixels[0] = 200
        }
        let data = try ImageCodec.encode(image, as: .webp, lossless: true)
        let expected = channels < 3 ? image.converted(toChannels: channels + 2) : image
        #expect(try ImageCodec.decode(data) == expected)
    }

    @Test func qualityOutsideRangeIsClamped() throws {
        let image = gradientImage(width: 8, height: 8, channels: 3)
        #expect(try ImageCodec.encode(image, as: .jpeg, quality: 0) == ImageCodec.encode(image, as: .jpeg, quality: 1))
        #expect(try ImageCodec.encode(image, as: .webp, quality: 500) == ImageCodec.encode(image, as: .webp, quality: 100))
    }

    @Test func inconsistentOrEmptyImagesFailToEncode() {
        var broken = Image(width: 2, height: 2, channels: 3)
        broken.pixels.removeLast()
        for format in ImageFormat.allCases {
            let error = #expect(throws: ImageError.self) { try ImageCodec.encode(broken, as: format) }
            #expect(error?.code == .encodeFailed)
            let empty = #expect(throws: ImageError.self) {
                try ImageCodec.encode(Image(width: 0, height: 3, channels: 3), as: format)
            }
            #expect(empty?.code == .encodeFailed)
        }
    }

    @Test func webpRefusesOversizedCanvas() {
        let wide = Image(width: 16_384, height: 1, channels: 3)
        let error = #expect(throws: ImageError.self) { try ImageCodec.encode(wide, as: .webp) }
        #expect(error?.code == .encodeFailed)
    }

    @Test func channelConversionFollowsPillow() {
        let rgba = Image(width: 2, height: 1, channels: 4, pixels: [255, 0, 0, 10, 10, 200, 30, 255])
        #expect(rgba.converted(toChannels: 3).pixels == [255, 0, 0, 10, 200, 30])
        // Pillow: L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.
        #expect(rgba.converted(toChannels: 1).pixels == [76, 124])
        #expect(rgba.converted(toChannels: 2).pixels == [76, 10, 124, 255])
        let gray = Image(width: 1, height: 1, channels: 1, pixels: [9])
        #expect(gray.converted(toChannels: 4).pixels == [9, 9, 9, 255])
    }
}
