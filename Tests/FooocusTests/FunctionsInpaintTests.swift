import Foundation
@testable import Fooocus
import GantryCore
import Imaging
import Testing

/// `fal-ai/fooocus/inpaint` run directly with a RunContext on the fixture pairs (downscaled to 192 px: the
/// working size is ~1024² whatever the input, so debug builds spend seconds per run in the fill and the engine).
@Suite("Fooocus inpaint function")
struct FunctionsInpaintTests {
    static let side = 192
    static let improveDetail = "Improve Detail (face, hand, eyes, etc.)"

    /// Runs the inpaint function and returns its output and harness.
    static func run(_ fields: [String: Any], engine: any ImageEngine = ReferenceEngine(), syncMode: Bool = true,
                    harness: Harness = Harness()) async throws -> (FooocusOutput, Harness) {
        let input = try decodeInput(InpaintInput.self, fields)
        let output = try await InpaintFunction(engine: engine).run(input, context: harness.context(syncMode: syncMode))
        return (output, harness)
    }

    static func overtureFields(_ extra: [String: Any] = [:]) throws -> [String: Any] {
        let pair = try Fixtures.pair(Fixtures.overture, side: side)
        let base: [String: Any] = ["inpaint_image_url": try Fixtures.dataURI(pair.image),
                                   "mask_image_url": try Fixtures.dataURI(pair.mask), "output_format": "png", "seed": 42]
        return base.merging(extra) { $1 }
    }

    /// Same size as the input; every pixel 32 or more (Chebyshev) from the mask is the input's, bit for bit.
    @Test(arguments: [Fixtures.overture, Fixtures.alex])
    func farPixelsAreUntouched(_ stem: String) async throws {
        let pair = try Fixtures.pair(stem, side: Self.side)
        let (output, harness) = try await Self.run([
            "inpaint_image_url": try Fixtures.dataURI(pair.image), "mask_image_url": try Fixtures.dataURI(pair.mask),
            "output_format": "png", "seed": 1,
        ])
        try #require(output.images.count == 1)
        let result = try await harness.image(of: output.images[0])
        #expect(result.width == pair.image.width && result.height == pair.image.height)
        let far = farFromMask(pair.mask)
        let input = PixelOps.hwc3(pair.image)
        var differing = 0
        for (index, isFar) in far.enumerated() where isFar {
            for c in 0..<3 where result.pixels[index * 3 + c] != input.pixels[index * 3 + c] { differing += 1 }
        }
        #expect(far.contains(true), "the fixture should leave pixels far from the mask")
        #expect(differing == 0, "\(differing) samples changed 32+ px from the mask")
        #expect(output.hasNSFWConcepts == [false])
        #expect(output.seed == 1)
    }

    /// Outpainting (here without a mask) grows the canvas by int(0.3·side) per chosen side; the original, away
    /// from the new border, is kept.
    @Test func outpaintExpandsTheCanvas() async throws {
        let pair = try Fixtures.pair(Fixtures.alex, side: 200)
        let (output, harness) = try await Self.run([
            "inpaint_image_url": try Fixtures.dataURI(pair.image), "outpaint_selections": ["Left", "Top"],
            "output_format": "png", "seed": 3,
        ])
        let result = try await harness.image(of: output.images[0])
        #expect(result.width == 260 && result.height == 260)
        // Columns/rows 60+32 onwards of the canvas are 32+ from the new strips.
        for y in 92..<260 {
            for x in 92..<260 {
                let got = (0..<3).map { result.pixel(x: x, y: y, channel: $0) }
                let want = (0..<3).map { pair.image.pixel(x: x - 60, y: y - 60, channel: $0) }
                if got != want {
                    Issue.record("pixel (\(x), \(y)) changed: \(got) vs \(want)")
                    return
                }
            }
        }
    }

    /// The per-side distances (a Gantry extension): left 64 on a 64×64 image adds 64 columns (a 128×64 canvas,
    /// which the paste-back keeps), a distance of an unselected side changes nothing, and a distance equal to
    /// Fooocus's default int(0.3·64) = 19 gives the same bytes as none at all.
    @Test func outpaintDistancesSetTheCanvas() async throws {
        let image = Resample.lanczos(try Fixtures.pair(Fixtures.alex).image, width: 64, height: 64)
        let base: [String: Any] = ["inpaint_image_url": try Fixtures.dataURI(image), "outpaint_selections": ["Left"], "output_format": "png",
                                   "seed": 9, "inpaint_mode": Self.improveDetail]
        let (wide, h1) = try await Self.run(base.merging(["outpaint_distance_left": 64, "outpaint_distance_top": 30]) { $1 })
        let result = try await h1.image(of: wide.images[0])
        #expect(result.width == 128 && result.height == 64)
        #expect(OutpaintExpansion.padding(height: 64, width: 64, directions: [.left], distances: OutpaintDistances(left: 64, top: 30))
                    == (0, 0, 64, 0))
        // Columns 64+32 onwards are 32+ from the new strip: the input, untouched.
        for y in 0..<64 {
            for x in 96..<128 where (0..<3).map({ result.pixel(x: x, y: y, channel: $0) }) != (0..<3).map({ image.pixel(x: x - 64, y: y, channel: $0) }) {
                Issue.record("pixel (\(x), \(y)) changed")
                return
            }
        }
        let (plain, h2) = try await Self.run(base)
        let (nineteen, h3) = try await Self.run(base.merging(["outpaint_distance_left": 19]) { $1 })
        let plainBytes = try await h2.bytes(of: plain.images[0])
        #expect(try ImageCodec.decode(plainBytes).width == 64 + 19)
        #expect(try await h3.bytes(of: nineteen.images[0]) == plainBytes)
    }

    /// Image i uses seed + i, the same seed gives the same bytes, and another seed changes pixels inside the mask:
    /// (seed 42, 2 images) = (seed 42, 1 image) + (seed 43, 1 image), and its two images differ in the mask.
    @Test func seedsAreDeterministicAndConsecutive() async throws {
        let fields = try Self.overtureFields(["seed": 42])
        let (pair, h1) = try await Self.run(fields.merging(["num_images": 2]) { $1 })
        let (first, h2) = try await Self.run(fields)
        let (second, h3) = try await Self.run(fields.merging(["seed": 43]) { $1 })
        try #require(pair.images.count == 2)
        #expect(pair.seed == 42 && pair.hasNSFWConcepts == [false, false])
        #expect(try await h1.bytes(of: pair.images[0]) == (try await h2.bytes(of: first.images[0])))
        #expect(try await h1.bytes(of: pair.images[1]) == (try await h3.bytes(of: second.images[0])))
        let a = try await h1.image(of: pair.images[0])
        let b = try await h1.image(of: pair.images[1])
        let mask = try Fixtures.pair(Fixtures.overture, side: Self.side).mask.channel(0)
        let insideDiffers = mask.pixels.indices.contains { i in
            mask.pixels[i] > 127 && (0..<3).contains { a.pixels[i * 3 + $0] != b.pixels[i * 3 + $0] }
        }
        #expect(insideDiffers, "seeds 42 and 43 gave the same pixels inside the mask")
    }

    /// The engine sees seeds s, s+1, … (a cheap engine, no fill: only the plumbing is under test).
    @Test func engineSeesConsecutiveSeeds() async throws {
        let engine = SeedColourEngine()
        let (output, _) = try await Self.run(try Self.overtureFields(["num_images": 3, "seed": 100, "inpaint_mode": Self.improveDetail]), engine: engine)
        #expect(engine.seeds.all == [100, 101, 102])
        #expect(output.images.count == 3 && output.seed == 100)
    }

    /// Without a seed one is drawn and returned; running again with it reproduces the image.
    @Test func randomSeedIsReturned() async throws {
        var fields = try Self.overtureFields()
        fields.removeValue(forKey: "seed")
        let engine = SeedColourEngine()
        fields["inpaint_mode"] = Self.improveDetail
        let (output, _) = try await Self.run(fields, engine: engine)
        #expect(output.seed >= 0 && output.seed <= Int(UInt32.max))
        #expect(engine.seeds.all == [UInt64(output.seed)])
    }

    /// The debugging preprocessor returns fill, working mask and working crop as PNG, equal to InpaintPreparation's.
    @Test func debuggingPreprocessorReturnsStages() async throws {
        let pair = try Fixtures.pair(Fixtures.overture, side: Self.side)
        let (output, harness) = try await Self.run(try Self.overtureFields(["debugging_inpaint_preprocessor": true, "output_format": "jpeg"]))
        try #require(output.images.count == 3)
        #expect(output.images.allSatisfy { $0.contentType == "image/png" })
        let prepared = try MaskPreparation.prepare(image: pair.image, mask: pair.mask)
        let stages = try InpaintPreparation.prepare(image: prepared.image, mask: prepared.mask, respectiveField: 0.618,
                                                    useFill: true, upscaler: LanczosUpscaler(scale: 4))
        let expected = [stages.fill, stages.workingMask.converted(toChannels: 3), stages.workingCrop]
        for (record, want) in zip(output.images, expected) {
            let got = try await harness.image(of: record)
            #expect(got == want, "\(record.fileName)")
        }
    }

    /// The presets and overrides map to strength, respective field and erode/dilate as in Fooocus's web UI; the
    /// inpaint_* fields count only with override_inpaint_options.
    @Test func presetsAndOverrides() throws {
        let base = ["inpaint_image_url": "x"]
        let cases: [([String: Any], Double, Double, Double)] = [
            ([:], 1, 0.618, 0),
            (["inpaint_mode": Self.improveDetail], 0.5, 0, 0),
            (["inpaint_mode": "Modify Content (add objects, change background, etc.)"], 1, 0, 0),
            (["inpaint_strength": 0.7, "inpaint_respective_field": 0.3, "inpaint_erode_or_dilate": 5], 1, 0.618, 0),
            (["override_inpaint_options": true, "inpaint_strength": 0.7, "inpaint_respective_field": 0.3, "inpaint_erode_or_dilate": 5], 0.7, 0.3, 5),
            (["override_inpaint_options": true, "inpaint_mode": Self.improveDetail], 1, 0.618, 0),
        ]
        for (extra, strength, field, k) in cases {
            let input = try decodeInput(InpaintInput.self, extra.merging(base) { $1 })
            #expect(input.strength == strength && input.respectiveField == field && input.erodeOrDilate == k, "\(extra)")
        }
    }

    /// Improve Detail and the overrides reach the preparation (no fill below strength 0.99; field; dilation).
    @Test func presetsReachThePreparation() async throws {
        let pair = try Fixtures.pair(Fixtures.overture, side: Self.side)
        let cases: [([String: Any], Double, Int)] = [
            (["inpaint_mode": Self.improveDetail], 0, 0),
            (["override_inpaint_options": true, "inpaint_strength": 0.7, "inpaint_respective_field": 0.3, "inpaint_erode_or_dilate": 5], 0.3, 5),
        ]
        for (extra, field, k) in cases {
            let (output, harness) = try await Self.run(try Self.overtureFields(extra.merging(["debugging_inpaint_preprocessor": true]) { $1 }))
            let prepared = try MaskPreparation.prepare(image: pair.image, mask: pair.mask, erodeOrDilate: Double(k))
            let stages = try InpaintPreparation.prepare(image: prepared.image, mask: prepared.mask, respectiveField: field, useFill: false)
            #expect(try await harness.image(of: output.images[0]) == stages.fill, "\(extra)")
            #expect(try await harness.image(of: output.images[1]) == stages.workingMask.converted(toChannels: 3), "\(extra)")
            #expect(try await harness.image(of: output.images[2]) == stages.workingCrop, "\(extra)")
        }
    }

    /// The debugging stages equal the goldens of `inpaint_prepare` (Pillow/OpenCV/NumPy) for the same inputs.
    @Test(.enabled(if: (try? Goldens.manifest.get()) != nil, "needs .build/goldens (scripts/make-goldens.sh)"))
    func debuggingStagesMatchGoldens() async throws {
        let cases = Dictionary(uniqueKeysWithValues: try Goldens.manifest.get().map { ($0.name, $0) })
        // The overture pair at 192×192 (RGB mask, first channel used), the default preset (field 0.618, fill).
        let overture = try #require(cases["inpaint_prepare_overture_k0.618_fill"])
        let source = try #require(cases["mask_prepare_overture_plain"])
        let (output, harness) = try await Self.run([
            "inpaint_image_url": try Fixtures.dataURI(try source.input("image")),
            "mask_image_url": try Fixtures.dataURI(try source.input("mask")), "debugging_inpaint_preprocessor": true,
        ])
        try await expectStages(output, harness, overture)

        // Outpaint left of alex at 160×120 with no mask: the golden input is the padded canvas; its original is
        // the canvas without the 48 new columns.
        let alex = try #require(cases["inpaint_prepare_alex_outpaint_left_k0.618_fill"])
        let canvas = try alex.input("image")
        let original = canvas.cropped(x: 48, y: 0, width: canvas.width - 48, height: canvas.height)
        let (outpainted, harness2) = try await Self.run([
            "inpaint_image_url": try Fixtures.dataURI(original), "outpaint_selections": ["Left"],
            "debugging_inpaint_preprocessor": true,
        ])
        try await expectStages(outpainted, harness2, alex)
    }

    private func expectStages(_ output: FooocusOutput, _ harness: Harness, _ golden: GoldenCase) async throws {
        try #require(output.images.count == 3)
        let roles = ["fill", "working_mask", "working_crop"]
        for (record, role) in zip(output.images, roles) {
            var want = try golden.output(role)
            if want.channels == 1 { want = want.converted(toChannels: 3) }
            expectIdentical(try await harness.image(of: record), want, "\(golden.name) \(role)")
        }
    }

    /// sync_mode off stores the files and returns URLs; JPEG and WebP come back with their types and sizes.
    @Test(arguments: [("jpeg", "image/jpeg", "jpg"), ("webp", "image/webp", "webp"), ("png", "image/png", "png")])
    func formatsAndStorage(_ format: (String, String, String)) async throws {
        let fields = try Self.overtureFields(["output_format": format.0, "inpaint_mode": Self.improveDetail])
        let (output, harness) = try await Self.run(fields, engine: SeedColourEngine(), syncMode: false)
        let record = try #require(output.images.first)
        #expect(record.url.hasPrefix("\(Harness.publicURL)/files/"))
        #expect(record.contentType == format.1 && record.fileName.hasSuffix(".\(format.2)"))
        let image = try await harness.image(of: record)
        #expect(image.width == Self.side && image.height == Self.side)
    }

    /// The default output format is JPEG; sync mode returns data URIs.
    @Test func defaultsToJPEGInline() async throws {
        var fields = try Self.overtureFields(["inpaint_mode": Self.improveDetail])
        fields.removeValue(forKey: "output_format")
        let (output, _) = try await Self.run(fields, engine: SeedColourEngine(), syncMode: true)
        #expect(output.images[0].url.hasPrefix("data:image/jpeg;base64,"))
    }

    /// Timings name each phase; the ignored fields and the missing safety checker are logged once each; progress
    /// rises to the end.
    @Test func timingsLogsAndProgress() async throws {
        let (output, harness) = try await Self.run(try Self.overtureFields(["prompt": "a cat", "styles": ["SAI Anime"], "inpaint_mode": Self.improveDetail]))
        #expect(Set(output.timings.keys) == ["fetch", "prepare", "engine", "finish", "encode", "total"])
        #expect(output.timings.values.allSatisfy { $0 >= 0 })
        #expect(output.timings["total"]! >= output.timings["engine"]!)
        let messages = await harness.reporter.messages
        let ignored = messages.filter { $0.contains("does not follow prompts") }
        #expect(ignored.count == 1)
        #expect(ignored.first?.contains("set in this request: prompt, styles") == true)
        #expect(messages.filter { $0.contains("no safety checker") }.count == 1)
        let fractions = await harness.reporter.fractions
        #expect(fractions == fractions.sorted() && (fractions.last ?? 0) > 0.9)

        let (_, quiet) = try await Self.run(try Self.overtureFields(["enable_safety_checker": false, "inpaint_mode": Self.improveDetail]),
                                            engine: SeedColourEngine())
        #expect(await quiet.reporter.messages.allSatisfy { !$0.contains("safety") && !$0.contains("does not follow prompts") })
    }

    /// A cancelled task stops between phases.
    @Test func cancellationStopsTheRun() async throws {
        let fields = try Self.overtureFields()
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await Self.run(fields)
        }
        await #expect(throws: CancellationError.self) { _ = try await task.value }
    }
}
