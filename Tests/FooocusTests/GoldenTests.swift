import Fooocus
import Imaging
import Testing

/// Every Fooocus stage against the goldens of Tests/reference/make_goldens.py
/// (Pillow / OpenCV / NumPy), with zero differing bytes.
@Suite("Fooocus goldens")
struct GoldenTests {
    @Test(arguments: Goldens.cases("shape_ceil"))
    func shapeCeil(_ c: GoldenCase) throws {
        try c.requireGoldens()
        let value = ShapeCeil.shapeCeil(height: try c.param("height").int!, width: try c.param("width").int!)
        #expect(value == (try c.expected("ceil").int), "\(c.name)")
    }

    @Test(arguments: Goldens.cases("set_image_shape_ceil_size"))
    func setImageShapeCeilSize(_ c: GoldenCase) throws {
        try c.requireGoldens()
        let size = try ShapeCeil.targetSize(height: try c.param("height").int!, width: try c.param("width").int!,
                                            target: try c.param("target").int!)
        #expect(size.height == (try c.expected("height").int), "\(c.name)")
        #expect(size.width == (try c.expected("width").int), "\(c.name)")
        #expect(size.loops == (try c.expected("loops").int), "\(c.name)")
    }

    @Test(arguments: Goldens.cases("set_image_shape_ceil"))
    func setImageShapeCeil(_ c: GoldenCase) throws {
        try c.requireGoldens()
        let out = try ShapeCeil.setImageShapeCeil(try c.input("image"), target: try c.param("target").int!)
        try c.expectOutput(out, "image")
    }

    @Test(arguments: Goldens.cases("mask_prepare"))
    func maskPrepare(_ c: GoldenCase) throws {
        try c.requireGoldens()
        let out = try MaskPreparation.prepare(
            image: try c.input("image"), mask: try c.input("mask"), upload: try c.optionalInput("upload"),
            advancedMasking: try c.param("advanced_masking").bool!,
            erodeOrDilate: try c.param("erode_or_dilate").double!, invert: try c.param("invert").bool!)
        try c.expectOutput(out.image, "image")
        try c.expectOutput(out.mask, "mask")
    }

    @Test(arguments: Goldens.cases("outpaint"))
    func outpaint(_ c: GoldenCase) throws {
        try c.requireGoldens()
        let directions = Set(try c.param("directions").array!.map { OutpaintDirection(parsing: $0.string!)! })
        var distances: OutpaintDistances?
        if let d = try c.param("distances").object {
            distances = OutpaintDistances(left: d["left"]!.int!, top: d["top"]!.int!,
                                          right: d["right"]!.int!, bottom: d["bottom"]!.int!)
        }
        let out = OutpaintExpansion.expand(image: try c.input("image"), mask: try c.input("mask"),
                                           directions: directions, distances: distances)
        try c.expectOutput(out.image, "image")
        try c.expectOutput(out.mask, "mask")
    }

    @Test(arguments: Goldens.cases("crop_box"))
    func cropBox(_ c: GoldenCase) throws {
        try c.requireGoldens()
        let mask = try c.input("mask")
        let initial = try #require(InpaintBox.initial(mask: mask), "\(c.name)")
        let grown = initial.grown(k: try c.param("k").double!, height: mask.height, width: mask.width)
        #expect([initial.a, initial.b, initial.c, initial.d] == (try c.expected("initial").ints), "\(c.name)")
        #expect([grown.a, grown.b, grown.c, grown.d] == (try c.expected("grown").ints), "\(c.name)")
    }

    @Test(arguments: Goldens.cases("inpaint_prepare"))
    func inpaintPrepare(_ c: GoldenCase) throws {
        try c.requireGoldens()
        let prepared = try InpaintPreparation.prepare(
            image: try c.input("image"), mask: try c.input("mask"), respectiveField: try c.param("k").double!,
            useFill: try c.param("use_fill").bool!, upscaler: LanczosUpscaler(scale: 4))
        let box = prepared.box
        #expect([box.a, box.b, box.c, box.d] == (try c.expected("box").ints), "\(c.name)")
        #expect(prepared.workingHeight == (try c.expected("working_height").int), "\(c.name)")
        #expect(prepared.workingWidth == (try c.expected("working_width").int), "\(c.name)")
        try c.expectOutput(prepared.workingCrop, "working_crop")
        try c.expectOutput(prepared.workingMask, "working_mask")
        try c.expectOutput(prepared.fill, "fill")
        try c.expectOutput(prepared.blendMask, "blend_mask")
    }

    @Test(arguments: Goldens.cases("fill"))
    func fill(_ c: GoldenCase) throws {
        try c.requireGoldens()
        try c.expectOutput(InpaintFill.fill(image: try c.input("image"), mask: try c.input("mask")), "image")
    }

    @Test(arguments: Goldens.cases("blend_mask"))
    func blendMask(_ c: GoldenCase) throws {
        try c.requireGoldens()
        try c.expectOutput(BlendMask.feathered(mask: try c.input("mask")), "mask")
    }

    @Test(arguments: Goldens.cases("paste_back"))
    func pasteBack(_ c: GoldenCase) throws {
        try c.requireGoldens()
        let b = try #require(try c.param("box").ints)
        let out = PasteBack.pasteBack(original: try c.input("original"), generated: try c.input("generated"),
                                      box: InpaintBox(a: b[0], b: b[1], c: b[2], d: b[3]),
                                      blendMask: try c.input("blend_mask"))
        try c.expectOutput(out, "image")
    }

    @Test(arguments: Goldens.cases("upscale_size"))
    func upscaleSize(_ c: GoldenCase) throws {
        try c.requireGoldens()
        let sizing = try UpscaleSizing(method: try c.param("method").string!, height: try c.param("height").int!,
                                       width: try c.param("width").int!,
                                       upscalerScale: try c.param("esrgan_scale").int!)
        #expect(sizing.height == (try c.expected("height").int), "\(c.name)")
        #expect(sizing.width == (try c.expected("width").int), "\(c.name)")
        #expect(sizing.isFast == (try c.expected("fast").bool), "\(c.name)")
        #expect(sizing.isDirect == (try c.expected("direct").bool), "\(c.name)")
        #expect(sizing.vaeHeight == c.expect?["vae_height"]?.int, "\(c.name)")
        #expect(sizing.vaeWidth == c.expect?["vae_width"]?.int, "\(c.name)")
    }

    @Test(arguments: Goldens.cases("upscale"))
    func upscale(_ c: GoldenCase) throws {
        try c.requireGoldens()
        let out = try UpscaleSizing.upscale(try c.input("image"), method: try c.param("method").string!,
                                            upscaler: LanczosUpscaler(scale: 4))
        try c.expectOutput(out.image, "image")
    }
}
