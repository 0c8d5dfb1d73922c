import Fooocus
import Imaging
import Testing

/// The fast stages against literal transcriptions of Fooocus's loops on
/// self-made inputs (independent of the golden files).
@Suite("Fooocus stages vs naive loops")
struct NaiveReferenceTests {
    /// A small deterministic generator (SplitMix64).
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    static func image(_ width: Int, _ height: Int, _ channels: Int, seed: UInt64) -> Image {
        var rng = Random(state: seed)
        return Image(width: width, height: height, channels: channels,
                     pixels: (0..<width * height * channels).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
    }

    /// A mask of a few random rectangles and scattered pixels, values 0/255
    /// plus soft ones around the 127 threshold.
    static func mask(_ width: Int, _ height: Int, seed: UInt64) -> Image {
        var rng = Random(state: seed)
        var mask = Image(width: width, height: height, channels: 1)
        for _ in 0..<3 {
            let x0 = rng.below(width), y0 = rng.below(height)
            let x1 = min(width, x0 + 1 + rng.below(max(1, width / 2)))
            let y1 = min(height, y0 + 1 + rng.below(max(1, height / 2)))
            for y in y0..<y1 { for x in x0..<x1 { mask.pixels[y * width + x] = 255 } }
        }
        for _ in 0..<(width * height / 40) {
            mask.pixels[rng.below(width * height)] = [126, 127, 128, 255][rng.below(4)]
        }
        return mask
    }

    /// `fooocus_fill` as written: full-image box blurs, keep pixels restored.
    static func naiveFill(_ image: Image, _ mask: Image) -> Image {
        var current = image
        for (radius, repeats) in InpaintFill.schedule {
            for _ in 0..<repeats {
                current = BoxBlur.blur(current, radius: radius)
                for i in 0..<mask.pixels.count where mask.pixels[i] < 127 {
                    for c in 0..<image.channels {
                        current.pixels[i * image.channels + c] = image.pixels[i * image.channels + c]
                    }
                }
            }
        }
        return current
    }

    static let fillCases: [(Int, Int, Int, UInt64)] = [
        (40, 30, 3, 1), (97, 89, 3, 2), (7, 300, 3, 3), (300, 5, 3, 4), (1, 1, 3, 5),
        (64, 48, 1, 6), (33, 21, 4, 7), (150, 120, 3, 8),
    ]

    @Test(arguments: fillCases)
    func fillMatchesNaiveLoop(_ v: (Int, Int, Int, UInt64)) {
        let image = Self.image(v.0, v.1, v.2, seed: v.3)
        let mask = Self.mask(v.0, v.1, seed: v.3 &+ 100)
        expectIdentical(InpaintFill.fill(image: image, mask: mask), Self.naiveFill(image, mask),
                        "fill \(v.0)×\(v.1)×\(v.2)")
    }

    /// `morphological_open` as written: int16, 32 × max(v, dilate3×3(v) − 8).
    static func naiveBlend(_ mask: Image) -> Image {
        let (w, h) = (mask.width, mask.height)
        var v = mask.pixels.map { $0 > 127 ? Int16(256) : 0 }
        for _ in 0..<32 {
            var next = v
            for y in 0..<h {
                for x in 0..<w {
                    var peak = Int16.min
                    for yy in max(0, y - 1)...min(h - 1, y + 1) {
                        for xx in max(0, x - 1)...min(w - 1, x + 1) { peak = max(peak, v[yy * w + xx]) }
                    }
                    next[y * w + x] = max(peak - 8, v[y * w + x])
                }
            }
            v = next
        }
        return Image(width: w, height: h, channels: 1, pixels: v.map { UInt8(min(max($0, 0), 255)) })
    }

    static let blendCases: [(Int, Int, UInt64)] = [(90, 70, 11), (1, 1, 12), (200, 3, 13), (5, 120, 14), (64, 64, 15)]

    @Test(arguments: blendCases)
    func blendMatchesNaiveLoop(_ v: (Int, Int, UInt64)) {
        let mask = Self.mask(v.0, v.1, seed: v.2)
        expectIdentical(BlendMask.feathered(mask: mask), Self.naiveBlend(mask), "blend \(v.0)×\(v.1)")
    }

    @Test func blendOfEmptyMaskIsZero() {
        let out = BlendMask.feathered(mask: Image(width: 40, height: 3, channels: 1, fill: 127))
        #expect(out.pixels.allSatisfy { $0 == 0 })
    }

    @Test func pasteBackKeepsFarPixels() throws {
        let image = Self.image(120, 90, 3, seed: 21)
        var mask = Image(width: 120, height: 90, channels: 1)
        for y in 40..<50 { for x in 50..<60 { mask.pixels[y * 120 + x] = 255 } }
        let prepared = try InpaintPreparation.prepare(image: image, mask: mask, respectiveField: 0.618, useFill: true)
        let out = prepared.finish(generated: Self.image(prepared.workingWidth, prepared.workingHeight, 3, seed: 22))
        #expect(out.width == 120 && out.height == 90)
        for y in 0..<90 { for x in 0..<120 where max(abs(y - 45), abs(x - 55)) > 40 {
            #expect(out.pixel(x: x, y: y, channel: 1) == image.pixel(x: x, y: y, channel: 1))
        } }
    }

    /// Doubles with nearest-neighbour repetition, so its use is visible.
    struct RepeatingUpscaler: Upscaler {
        let scale = 2
        func upscale(_ image: Image) -> Image {
            var out = Image(width: image.width * 2, height: image.height * 2, channels: image.channels)
            for y in 0..<out.height { for x in 0..<out.width { for c in 0..<image.channels {
                out.pixels[(y * out.width + x) * image.channels + c] = image.pixel(x: x / 2, y: y / 2, channel: c)
            } } }
            return out
        }
    }

    @Test func upscalerRunsOnlyOnSmallCrops() throws {
        // 300×300 crop (k = 1): shape ceil 320 < 1024 → 2× → 600×600 → set_image_shape_ceil → 1024×1024.
        let image = Self.image(300, 300, 3, seed: 31)
        var mask = Image(width: 300, height: 300, channels: 1)
        mask.pixels[150 * 300 + 150] = 255
        let small = try InpaintPreparation.prepare(image: image, mask: mask, respectiveField: 1, useFill: false,
                                                   upscaler: RepeatingUpscaler())
        let upscaled = RepeatingUpscaler().upscale(image)
        #expect(small.workingCrop == Resample.lanczos(upscaled, width: 1024, height: 1024))
        // 961×961 crop: shape ceil 1024, no upscale, kept as is.
        let big = Self.image(961, 961, 3, seed: 32)
        var bigMask = Image(width: 961, height: 961, channels: 1)
        bigMask.pixels[480 * 961 + 480] = 255
        let kept = try InpaintPreparation.prepare(image: big, mask: bigMask, respectiveField: 1, useFill: false,
                                                  upscaler: RepeatingUpscaler())
        #expect(kept.workingCrop == big && kept.fill == big)
    }

    @Test func maskPreparationSteps() throws {
        let image = Image(width: 4, height: 2, channels: 1, pixels: [1, 2, 3, 4, 5, 6, 7, 8])
        let mask = Image(width: 4, height: 2, channels: 3, pixels: [UInt8](repeating: 0, count: 24))
        var upload = mask
        upload.pixels[3...5] = [200, 200, 0]  // mean 133.3 > 127
        upload.pixels[6...8] = [127, 127, 127]  // mean 127, not > 127
        let out = try MaskPreparation.prepare(image: image, mask: mask, upload: upload, advancedMasking: true,
                                              invert: true)
        #expect(out.image.channels == 3 && out.image.pixel(x: 3, y: 1, channel: 2) == 8)
        #expect(out.mask.pixels == [255, 0, 255, 255, 255, 255, 255, 255])
        #expect(!MaskPreparation.hasMaskedPixels(Image(width: 3, height: 1, channels: 1, fill: 127)))
        #expect(MaskPreparation.hasMaskedPixels(out.mask))
    }
}
