import Testing
@testable import Imaging

@Suite struct GeometryAndPixelOpsTests {
    @Test(arguments: [1, 3, 4])
    func cropAndPasteAreInverse(channels: Int) {
        let image = randomImage(width: 13, height: 9, channels: channels, seed: 1)
        let crop = image.cropped(x: 3, y: 2, width: 7, height: 5)
        #expect(crop.width == 7 && crop.height == 5 && crop.channels == channels)
        for y in 0..<5 {
            for x in 0..<7 {
                for c in 0..<channels {
                    #expect(crop.pixel(x: x, y: y, channel: c) == image.pixel(x: x + 3, y: y + 2, channel: c))
                }
            }
        }
        var canvas = Image(width: 13, height: 9, channels: channels, fill: 0)
        canvas.paste(crop, x: 3, y: 2)
        var expected = [UInt8](repeating: 0, count: canvas.pixels.count)
        for y in 2..<7 {
            for x in 3..<10 {
                for c in 0..<channels {
                    expected[(y * 13 + x) * channels + c] = image.pixel(x: x, y: y, channel: c)
                }
            }
        }
        #expect(canvas.pixels == expected)
        #expect(image.cropped(x: 0, y: 0, width: 13, height: 9) == image)
        #expect(image.cropped(x: 13, y: 9, width: 0, height: 0).pixels.isEmpty)
    }

    @Test(arguments: [1, 3])
    func edgePaddingReplicatesLikeNumpy(channels: Int) {
        let image = randomImage(width: 5, height: 4, channels: channels, seed: 2)
        let out = image.padded(top: 3, bottom: 1, left: 2, right: 6, mode: .edge)
        #expect(out.width == 13 && out.height == 8)
        for y in 0..<8 {
            for x in 0..<13 {
                let sx = min(max(x - 2, 0), 4)
                let sy = min(max(y - 3, 0), 3)
                for c in 0..<channels {
                    #expect(out.pixel(x: x, y: y, channel: c) == image.pixel(x: sx, y: sy, channel: c))
                }
            }
        }
    }

    @Test func constantPaddingFillsEveryChannel() {
        let image = randomImage(width: 3, height: 2, channels: 3, seed: 4)
        let out = image.padded(top: 1, bottom: 0, left: 0, right: 2, mode: .constant(255))
        #expect(out.width == 5 && out.height == 3)
        #expect(out.cropped(x: 0, y: 1, width: 3, height: 2) == image)
        #expect(out.cropped(x: 0, y: 0, width: 5, height: 1).pixels.allSatisfy { $0 == 255 })
        #expect(out.cropped(x: 3, y: 0, width: 2, height: 3).pixels.allSatisfy { $0 == 255 })
        #expect(image.padded(top: 0, bottom: 0, left: 0, right: 0, mode: .edge) == image)
    }

    @Test func channelExtractsOnePlane() {
        let image = randomImage(width: 6, height: 5, channels: 4, seed: 5)
        for c in 0..<4 {
            let plane = image.channel(c)
            #expect(plane.channels == 1)
            #expect(plane.pixels == (0..<30).map { image.pixels[$0 * 4 + c] })
        }
    }

    @Test func hwc3CompositesOnWhiteForEveryColourAndAlpha() {
        var pixels: [UInt8] = []
        for a in 0..<256 { for c in 0..<256 { pixels += [UInt8(c), UInt8(255 - c), UInt8(c / 2), UInt8(a)] } }
        let rgba = Image(width: 256, height: 256, channels: 4, pixels: pixels)
        #expect(PixelOps.hwc3(rgba) == Reference.hwc3(rgba))
        // Spot values: opaque keeps colour, transparent is white.
        #expect(PixelOps.hwc3(rgba).pixel(x: 10, y: 255, channel: 0) == 10)
        #expect(PixelOps.hwc3(rgba).pixel(x: 10, y: 0, channel: 1) == 255)
        let gray = randomImage(width: 7, height: 3, channels: 1, seed: 6)
        #expect(PixelOps.hwc3(gray) == Reference.hwc3(gray))
        let rgb = randomImage(width: 7, height: 3, channels: 3, seed: 6)
        #expect(PixelOps.hwc3(rgb) == rgb)
    }

    @Test func up255ThresholdsStrictly() {
        let ramp = Image(width: 256, height: 1, channels: 1, pixels: (0..<256).map { UInt8($0) })
        for t in [0, 1, 126, 127, 128, 254, 255] {
            let out = PixelOps.up255(ramp, threshold: UInt8(t))
            #expect(out.pixels == (0..<256).map { $0 > t ? 255 : 0 }, "threshold \(t)")
        }
    }
}
