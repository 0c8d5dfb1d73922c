@testable import Fooocus
import Imaging
import Testing

/// The reference engine (content-aware fill by patch synthesis) on small self-made inputs.
@Suite("Reference engine")
struct EngineTests {
    // MARK: - Inputs

    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Diagonal stripes of period `period` in three colours, with a little deterministic grain.
    static func stripes(_ width: Int, _ height: Int, period: Int = 9) -> Image {
        let palette: [[UInt8]] = [[200, 60, 40], [30, 120, 200], [240, 230, 90]]
        var rng = Random(state: 7)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let band = ((x + 2 * y) % (3 * period)) / period
                for c in 0..<3 {
                    let grain = Int(rng.next() % 9) - 4
                    pixels[(y * width + x) * 3 + c] = UInt8(clamping: Int(palette[band][c]) + grain)
                }
            }
        }
        return Image(width: width, height: height, channels: 3, pixels: pixels)
    }

    /// Smooth gradients plus noise: every pixel different, nothing periodic.
    static func noisy(_ width: Int, _ height: Int, seed: UInt64 = 3) -> Image {
        var rng = Random(state: seed)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<3 {
                    let base = (x * (c + 1) * 3 + y * (3 - c) * 2) % 200
                    pixels[(y * width + x) * 3 + c] = UInt8(base + Int(rng.next() % 50))
                }
            }
        }
        return Image(width: width, height: height, channels: 3, pixels: pixels)
    }

    /// A one-channel mask, 255 where `inside(x, y)`.
    static func mask(_ width: Int, _ height: Int, _ inside: (Int, Int) -> Bool) -> Image {
        var pixels = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width where inside(x, y) { pixels[y * width + x] = 255 }
        }
        return Image(width: width, height: height, channels: 1, pixels: pixels)
    }

    static func disc(_ width: Int, _ height: Int, cx: Int, cy: Int, radius: Int) -> Image {
        mask(width, height) { x, y in (x - cx) * (x - cx) + (y - cy) * (y - cy) <= radius * radius }
    }

    /// A preparation as InpaintPreparation builds it, but with the working size equal to the crop's
    /// (no super-resolution to 1024), so debug-build tests stay fast.
    static func preparation(_ image: Image, _ mask: Image, k: Double = 0.618) -> InpaintPreparation {
        let box = InpaintBox.initial(mask: mask)!.grown(k: k, height: image.height, width: image.width)
        let crop = image.cropped(x: box.c, y: box.a, width: box.width, height: box.height)
        let cropMask = PixelOps.up255(mask.cropped(x: box.c, y: box.a, width: box.width, height: box.height),
                                      threshold: 127)
        return InpaintPreparation(image: image, mask: mask, box: box, workingCrop: crop, workingMask: cropMask,
                                  fill: InpaintFill.fill(image: crop, mask: cropMask),
                                  blendMask: BlendMask.feathered(mask: mask))
    }

    static func run(_ prep: InpaintPreparation, seed: UInt64 = 1, engine: ReferenceEngine = ReferenceEngine())
        async throws -> Image {
        try await engine.inpaint(InpaintTask(preparation: prep, seed: seed, strength: 1, prompt: "")) { _ in }
    }

    /// Indices of the crop's pixels under the mask (> 127).
    static func holePixels(_ prep: InpaintPreparation) -> [Int] {
        let box = prep.box
        var out: [Int] = []
        for y in 0..<box.height {
            for x in 0..<box.width where prep.mask.pixels[(y + box.a) * prep.mask.width + x + box.c] > 127 {
                out.append(y * box.width + x)
            }
        }
        return out
    }

    static func crop(_ prep: InpaintPreparation) -> Image {
        prep.image.cropped(x: prep.box.c, y: prep.box.a, width: prep.box.width, height: prep.box.height)
    }

    /// Mean squared error over the given pixels (all channels).
    static func mse(_ a: Image, _ b: Image, _ pixels: [Int]) -> Double {
        var sum = 0.0
        for p in pixels {
            for c in 0..<3 {
                let d = Double(a.pixels[3 * p + c]) - Double(b.pixels[3 * p + c])
                sum += d * d
            }
        }
        return sum / Double(max(1, pixels.count * 3))
    }

    // MARK: - Tests

    @Test("declares inpaint, outpaint and upscale only")
    func capabilities() {
        let engine = ReferenceEngine()
        #expect(engine.name == "reference")
        #expect(engine.capabilities == [.inpaint, .outpaint, .upscale])
        #expect(engine.missing([.textToImage, .inpaint, .vary]) == [.textToImage, .vary])
    }

    @Test("same seed gives identical bytes, serial or on several threads")
    func determinism() async throws {
        let image = Self.noisy(120, 96)
        let prep = Self.preparation(image, Self.disc(120, 96, cx: 60, cy: 50, radius: 18))
        let a = try await Self.run(prep, seed: 42)
        let b = try await Self.run(prep, seed: 42)
        var serial = PatchSynthesis.Options()
        serial.parallel = false
        let c = try await Self.run(prep, seed: 42, engine: ReferenceEngine(options: serial))
        #expect(a == b)
        #expect(a == c)
    }

    @Test("different seeds give different content inside the mask")
    func seedsDiffer() async throws {
        let image = Self.noisy(120, 96)
        let prep = Self.preparation(image, Self.disc(120, 96, cx: 60, cy: 50, radius: 18))
        let a = try await Self.run(prep, seed: 1)
        let b = try await Self.run(prep, seed: 2)
        let hole = Self.holePixels(prep)
        let differing = hole.filter { p in (0..<3).contains { a.pixels[3 * p + $0] != b.pixels[3 * p + $0] } }
        #expect(differing.count > hole.count / 4)
    }

    @Test("known pixels come back untouched, at the crop's size, and the hole only takes known colours")
    func knownPixelsUntouched() async throws {
        // The hole hides pure magenta, which occurs nowhere else: none may leak into the result.
        var image = Self.noisy(100, 80)
        let mask = Self.disc(100, 80, cx: 40, cy: 44, radius: 15)
        for p in 0..<(100 * 80) where mask.pixels[p] > 127 {
            image.pixels[3 * p] = 255; image.pixels[3 * p + 1] = 0; image.pixels[3 * p + 2] = 255
        }
        let prep = Self.preparation(image, mask)
        let out = try await Self.run(prep)
        let crop = Self.crop(prep)
        #expect(out.width == prep.box.width && out.height == prep.box.height && out.channels == 3)
        let hole = Set(Self.holePixels(prep))
        var knownSame = true
        var magenta = 0
        for p in 0..<(out.width * out.height) {
            if hole.contains(p) {
                if out.pixels[3 * p] > 240 && out.pixels[3 * p + 1] < 15 && out.pixels[3 * p + 2] > 240 { magenta += 1 }
            } else if (0..<3).contains(where: { out.pixels[3 * p + $0] != crop.pixels[3 * p + $0] }) {
                knownSame = false
            }
        }
        #expect(knownSame)
        #expect(magenta == 0)
        // Through finishing, pixels far from the mask are the input's.
        let final = prep.finish(generated: out)
        #expect(final.width == image.width && final.height == image.height)
    }

    @Test("works at the working size when the crop is larger than it")
    func workingSizePath() async throws {
        let image = Self.noisy(96, 96)
        let mask = Self.disc(96, 96, cx: 48, cy: 48, radius: 10)
        let full = Self.preparation(image, mask, k: 1)
        // A working crop smaller than the box, as for crops above 1024 on the shape ceil.
        let small = Resample.lanczos(Self.crop(full), width: 64, height: 64)
        let smallMask = PixelOps.up255(Resample.lanczos(mask, width: 64, height: 64), threshold: 127)
        let prep = InpaintPreparation(image: image, mask: mask, box: full.box, workingCrop: small,
                                      workingMask: smallMask, fill: InpaintFill.fill(image: small, mask: smallMask),
                                      blendMask: full.blendMask)
        let out = try await Self.run(prep)
        #expect(out.width == 64 && out.height == 64)
        #expect(prep.finish(generated: out).width == 96)
    }

    @Test("a periodic stripe texture is continued through the hole")
    func stripesContinue() async throws {
        let image = Self.stripes(112, 96)
        let mask = Self.disc(112, 96, cx: 56, cy: 48, radius: 15)
        let prep = Self.preparation(image, mask)
        let out = try await Self.run(prep, seed: 5)
        let hole = Self.holePixels(prep)
        let truth = Self.crop(prep)
        let engineError = Self.mse(out, truth, hole)
        let fillError = Self.mse(prep.fill, truth, hole)
        // Grain alone gives an MSE of about 2·(σ² of the grain) ≈ 13 for an exact continuation.
        #expect(engineError < fillError / 50, "engine MSE \(engineError), fill MSE \(fillError)")
        #expect(engineError < 60, "engine MSE \(engineError)")
    }

    @Test("progress rises monotonically and ends at 1")
    func progress() async throws {
        final class Log: @unchecked Sendable {
            var values: [Double] = []
        }
        let log = Log()
        let prep = Self.preparation(Self.noisy(96, 96), Self.disc(96, 96, cx: 48, cy: 48, radius: 16))
        _ = try await ReferenceEngine().inpaint(InpaintTask(preparation: prep, seed: 9, strength: 1, prompt: "")) {
            log.values.append($0)
        }
        #expect(log.values.count > 3)
        #expect(zip(log.values, log.values.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(log.values.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(log.values.last == 1)
    }

    @Test("a cancelled task throws CancellationError at the next iteration")
    func cancellation() async throws {
        final class Log: @unchecked Sendable {
            var calls = 0
        }
        let log = Log()
        let prep = Self.preparation(Self.noisy(128, 128), Self.disc(128, 128, cx: 64, cy: 64, radius: 30))
        let task = Task {
            try await ReferenceEngine().inpaint(InpaintTask(preparation: prep, seed: 1, strength: 1, prompt: "")) { _ in
                log.calls += 1
                if log.calls == 1 { withUnsafeCurrentTask { $0?.cancel() } }
            }
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(log.calls == 1)

        // Cancelled before it starts.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await Self.run(prep)
        }
        await #expect(throws: CancellationError.self) { try await early.value }
    }

    @Test("masks touching the borders and corners")
    func borderMasks() async throws {
        let image = Self.noisy(90, 70)
        let masks = [
            Self.mask(90, 70) { x, _ in x < 12 },                    // left edge, full height
            Self.mask(90, 70) { x, y in x + y < 25 },                // top-left corner
            Self.mask(90, 70) { x, y in x > 70 && y > 50 },          // bottom-right corner
            Self.mask(90, 70) { _, y in y >= 62 },                   // bottom edge
        ]
        for mask in masks {
            let prep = Self.preparation(image, mask)
            let a = try await Self.run(prep, seed: 3)
            let b = try await Self.run(prep, seed: 3)
            #expect(a == b)
            #expect(a.width == prep.box.width && a.height == prep.box.height)
            let crop = Self.crop(prep)
            let hole = Set(Self.holePixels(prep))
            #expect((0..<(a.width * a.height)).allSatisfy { p in
                hole.contains(p) || (0..<3).allSatisfy { a.pixels[3 * p + $0] == crop.pixels[3 * p + $0] }
            })
        }
    }

    @Test("tiny images, down to a single masked pixel")
    func tinyImages() async throws {
        for (w, h, inside) in [(1, 1, { (_: Int, _: Int) in true }), (2, 2, { x, y in x == 0 && y == 0 }),
                               (4, 4, { x, y in x == 1 && y == 2 }), (8, 8, { x, _ in x < 4 }),
                               (5, 9, { x, y in (x + y) % 2 == 0 })] as [(Int, Int, (Int, Int) -> Bool)] {
            let image = Self.noisy(w, h)
            let prep = Self.preparation(image, Self.mask(w, h, inside))
            let out = try await Self.run(prep)
            #expect(out.width == prep.box.width && out.height == prep.box.height)
            #expect(prep.finish(generated: out).width == w)
        }
    }

    @Test("a mask covering most of the image is filled from what is left")
    func mostlyMasked() async throws {
        // Known: a 7-pixel frame of two flat colours (top/bottom one, sides other); the hole gets only those.
        let (w, h) = (80, 64)
        var image = Image(width: w, height: h, channels: 3, fill: 0)
        for y in 0..<h {
            for x in 0..<w {
                let colour: [UInt8] = y < h / 2 ? [20, 140, 60] : [150, 80, 30]
                for c in 0..<3 { image.pixels[(y * w + x) * 3 + c] = colour[c] }
            }
        }
        let mask = Self.mask(w, h) { x, y in x >= 7 && x < w - 7 && y >= 7 && y < h - 7 }
        let prep = Self.preparation(image, mask, k: 1)
        let out = try await Self.run(prep)
        let hole = Self.holePixels(prep)
        #expect(Double(hole.count) / Double(w * h) > 0.6)
        // Every hole pixel is one of the two colours (copies, not blends: blends only at the seam).
        let exact = hole.filter { p in
            let v = Array(out.pixels[3 * p..<3 * p + 3])
            return v == [20, 140, 60] || v == [150, 80, 30]
        }
        #expect(Double(exact.count) > 0.9 * Double(hole.count))
    }

    @Test("end to end through InpaintPreparation.prepare and finish")
    func endToEnd() async throws {
        let image = Self.stripes(64, 48)
        let mask = Self.disc(64, 48, cx: 30, cy: 22, radius: 8)
        let prep = try InpaintPreparation.prepare(image: image, mask: mask, respectiveField: 0.618, useFill: true)
        let out = try await Self.run(prep)
        // The crop (at most 64×48) is smaller than the 1024-class working size: the engine works at the crop's.
        #expect(out.width == prep.box.width && out.height == prep.box.height)
        let final = prep.finish(generated: out)
        #expect(final.width == 64 && final.height == 48)
    }
}
