import Testing
@testable import Imaging

/// The fast LANCZOS against the per-pixel reference in
/// ReferenceImplementations.swift, byte for byte.
@Suite struct ResampleExactnessTests {
    /// (in width, in height, out width, out height): up, down, one axis only,
    /// identity, extreme ratios, odd and prime sizes.
    static let sizes: [(Int, Int, Int, Int)] = [
        (1, 1, 7, 5), (2, 3, 1, 1), (13, 7, 29, 3), (37, 23, 37, 11), (31, 17, 11, 17),
        (19, 19, 19, 19), (97, 61, 53, 89), (101, 103, 307, 211), (211, 199, 17, 23),
        (257, 5, 3, 131), (64, 64, 100, 100), (331, 7, 113, 7),
    ]

    @Test(arguments: [1, 2, 3, 4])
    func matchesReference(channels: Int) {
        for (index, (iw, ih, ow, oh)) in Self.sizes.enumerated() {
            let image = randomImage(width: iw, height: ih, channels: channels, seed: UInt64(index))
            let fast = Resample.lanczos(image, width: ow, height: oh)
            let slow = Reference.lanczos(image, width: ow, height: oh)
            #expect(fast.width == ow && fast.height == oh && fast.channels == channels)
            let diff = firstDifference(fast.pixels, slow.pixels)
            #expect(diff == nil, "\(iw)×\(ih)×\(channels) → \(ow)×\(oh): first difference at byte \(diff ?? -1)")
        }
    }

    @Test func identitySizeIsACopyEvenWithAlpha() {
        // Pillow returns a copy before premultiplying, so RGBA colour under
        // low alpha survives unchanged.
        let image = randomImage(width: 9, height: 4, channels: 4, seed: 3)
        #expect(Resample.lanczos(image, width: 9, height: 4) == image)
    }

    @Test func flatImagesStayFlat() {
        for value: UInt8 in [0, 1, 127, 254, 255] {
            let image = Image(width: 23, height: 17, channels: 3, fill: value)
            let out = Resample.lanczos(image, width: 71, height: 5)
            #expect(out.pixels.allSatisfy { $0 == value }, "fill \(value)")
        }
    }

    @Test func kernelWeightsSumToOneInFixedPoint() {
        for (inSize, outSize) in [(10, 3), (3, 10), (1024, 1216), (1216, 1024), (2000, 7)] {
            let k = LanczosKernel(inSize: inSize, outSize: outSize)
            for i in 0..<outSize {
                let sum = k.weights[(i * k.taps)..<(i * k.taps + k.count[i])].reduce(0) { $0 + Int($1) }
                #expect(abs(sum - (1 << 22)) <= k.count[i], "\(inSize)→\(outSize) index \(i): \(sum)")
                let (start, ws) = Reference.lanczosTaps(inSize: inSize, outSize: outSize, index: i)
                #expect(start == k.start[i] && ws == k.weights[(i * k.taps)..<(i * k.taps + k.count[i])].map(Int.init))
            }
        }
    }

    @Test func cachedKernelEqualsFreshOne() {
        let a = LanczosKernel.cached(inSize: 777, outSize: 333)
        let b = LanczosKernel(inSize: 777, outSize: 333)
        #expect(a.weights == b.weights && a.start == b.start && a.count == b.count)
    }

    @Test func premultiplicationRoundTripFollowsPillow() {
        var pixels: [UInt8] = []
        for a in stride(from: 0, through: 255, by: 15) {
            for c in stride(from: 0, through: 255, by: 17) { pixels += [UInt8(c), UInt8(255 - c), 9, UInt8(a)] }
        }
        let image = Image(width: pixels.count / 4, height: 1, channels: 4, pixels: pixels)
        let pre = AlphaPremultiplication.premultiplied(image)
        for i in 0..<(pixels.count / 4) {
            let a = Int(pixels[i * 4 + 3])
            let t = Int(pixels[i * 4]) * a + 128
            #expect(Int(pre.pixels[i * 4]) == ((t >> 8) + t) >> 8)
        }
        let back = AlphaPremultiplication.unpremultiplied(pre)
        for i in 0..<(pixels.count / 4) {
            let a = Int(pixels[i * 4 + 3])
            let expected = a == 0 || a == 255 ? Int(pre.pixels[i * 4]) : min(255, 255 * Int(pre.pixels[i * 4]) / a)
            #expect(Int(back.pixels[i * 4]) == expected)
        }
    }
}
