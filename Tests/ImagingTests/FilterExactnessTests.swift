import Testing
@testable import Imaging

/// BoxBlur and Morphology against the per-pixel references, byte for byte.
@Suite struct FilterExactnessTests {
    static let blurSizes: [(Int, Int)] = [(1, 1), (1, 9), (9, 1), (7, 5), (31, 17), (64, 3), (2, 41)]

    @Test(arguments: [1, 2, 3, 4])
    func boxBlurMatchesReferenceForEveryRadius(channels: Int) {
        for (index, (w, h)) in Self.blurSizes.enumerated() {
            let image = randomImage(width: w, height: h, channels: channels, seed: UInt64(100 + index))
            // Every radius up to past both sides, then a few far beyond.
            for radius in Array(0...(max(w, h) + 2)) + [40, 100, 512, 1000] {
                let fast = BoxBlur.blur(image, radius: radius)
                let slow = Reference.boxBlur(image, radius: radius)
                let diff = firstDifference(fast.pixels, slow.pixels)
                #expect(diff == nil, "\(w)×\(h)×\(channels) r=\(radius): first difference at byte \(diff ?? -1)")
            }
        }
    }

    @Test(arguments: [(1, 211, 150), (3, 400, 40), (4, 129, 67), (1, 1100, 30)])
    func boxBlurOnLargerImagesUsesEveryBand(channels: Int, width: Int, height: Int) {
        let image = randomImage(width: width, height: height, channels: channels, seed: 7)
        for radius in [1, 3, 17, 64, 150] {
            let diff = firstDifference(BoxBlur.blur(image, radius: radius).pixels,
                                       Reference.boxBlur(image, radius: radius).pixels)
            #expect(diff == nil, "\(width)×\(height)×\(channels) r=\(radius): first difference at byte \(diff ?? -1)")
        }
    }

    @Test func boxBlurWeightsMatchIntegerFormula() {
        for radius in 0...2048 {
            let w = BoxBlur.Weights(radius: radius)
            let ww = UInt32((1 << 24) / (2 * radius + 1))
            #expect(w.inner == ww && w.outer == (UInt32(1 << 24) - UInt32(2 * radius + 1) * ww) / 2)
        }
    }

    static let morphologySizes: [(Int, Int)] = [(1, 1), (1, 5), (6, 1), (17, 13), (40, 33), (300, 7), (5, 90)]
    static let iterations = [0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 100]

    @Test(arguments: [1, 3])
    func morphologyMatchesClippedWindow(channels: Int) {
        for (index, (w, h)) in Self.morphologySizes.enumerated() {
            let image = randomImage(width: w, height: h, channels: channels, seed: UInt64(200 + index))
            for k in Self.iterations {
                let dilated = Morphology.dilate(image, iterations: k)
                let eroded = Morphology.erode(image, iterations: k)
                let d1 = firstDifference(dilated.pixels, Reference.morph(image, k: k, dilate: true).pixels)
                let d2 = firstDifference(eroded.pixels, Reference.morph(image, k: k, dilate: false).pixels)
                #expect(d1 == nil, "dilate \(w)×\(h)×\(channels) k=\(k): first difference at byte \(d1 ?? -1)")
                #expect(d2 == nil, "erode \(w)×\(h)×\(channels) k=\(k): first difference at byte \(d2 ?? -1)")
                #expect(Morphology.erodeOrDilate(image, k: k) == dilated)
                #expect(Morphology.erodeOrDilate(image, k: -k) == eroded)
            }
        }
    }

    @Test func morphologyOnALargeSparseMaskUsesEveryBand() {
        var mask = Image(width: 263, height: 199, channels: 1)
        var rng = SeededGenerator(seed: 42)
        for _ in 0..<40 { mask.pixels[Int(rng.next() % UInt64(mask.pixels.count))] = UInt8(rng.next() % 256) }
        for k in [1, 4, 9] {
            #expect(Morphology.dilate(mask, iterations: k) == Reference.morph(mask, k: k, dilate: true), "k=\(k)")
            let inverted = Image(width: 263, height: 199, channels: 1, pixels: mask.pixels.map { 255 - $0 })
            #expect(Morphology.erode(inverted, iterations: k) == Reference.morph(inverted, k: k, dilate: false), "k=\(k)")
        }
    }
}
