import Fooocus
import Imaging
import Testing

/// The test vectors written in docs/fooocus.md §3.0, §3.3 and §3.4.
@Suite("Fooocus spec vectors")
struct TableTests {
    /// (H, W) → (H', W', loops) of `set_image_shape_ceil(…, 1024)`; nil loops
    /// where the spec gives none.
    static let shapeCeilVectors: [(Int, Int, Int, Int, Int?)] = [
        (512, 512, 1024, 1024, 1), (768, 512, 1216, 832, 1), (1000, 750, 1152, 832, 1),
        (896, 1152, 896, 1152, 0), (600, 800, 896, 1152, nil), (100, 300, 576, 1728, 2),
        (333, 777, 640, 1536, nil), (1080, 1920, 768, 1344, nil), (2000, 3000, 832, 1216, nil),
        (479, 640, 832, 1152, nil), (1217, 913, 1152, 832, nil), (176, 1168, 384, 2432, nil),
    ]

    @Test(arguments: shapeCeilVectors)
    func setImageShapeCeilSize(_ v: (Int, Int, Int, Int, Int?)) throws {
        let size = try ShapeCeil.targetSize(height: v.0, width: v.1, target: 1024)
        #expect(size.height == v.2 && size.width == v.3, "\(v.0)×\(v.1) → \(size.height)×\(size.width)")
        if let loops = v.4 { #expect(size.loops == loops, "\(v.0)×\(v.1) loops") }
    }

    @Test func shapeCeilValues() {
        #expect(ShapeCeil.shapeCeil(height: 512, width: 512) == 512)
        #expect(ShapeCeil.shapeCeil(height: 896, width: 1152) == 1024)
        #expect(ShapeCeil.shapeCeil(height: 961, width: 961) == 1024)
        #expect(ShapeCeil.shapeCeil(height: 1, width: 1) == 64)
        #expect(ShapeCeil.shapeCeil(height: 499.5, width: 1165.5) == 768)
    }

    @Test func unchangedImageIsReturnedAsIs() throws {
        let image = Image(width: 961, height: 961, channels: 3, fill: 7)
        #expect(try ShapeCeil.setImageShapeCeil(image, target: 1024) == image)
        let resized = try ShapeCeil.setImageShapeCeil(Image(width: 300, height: 100, channels: 3), target: 1024)
        #expect(resized.width == 1728 && resized.height == 576)
    }

    @Test func degenerateShapeThrows() {
        #expect(throws: FooocusError.self) { try ShapeCeil.targetSize(height: 0, width: 10, target: 1024) }
        #expect(throws: FooocusError.self) { try ShapeCeil.targetSize(height: 1, width: 100_000, target: 1024) }
    }

    static func rectMask(height: Int, width: Int, rows: ClosedRange<Int>, cols: ClosedRange<Int>) -> Image {
        var mask = Image(width: width, height: height, channels: 1)
        for y in rows { for x in cols { mask.pixels[y * width + x] = 255 } }
        return mask
    }

    /// (H, W, rows, cols, initial, [(k, grown)]).
    static let boxVectors: [(Int, Int, ClosedRange<Int>, ClosedRange<Int>, [Int], [(Double, [Int])])] = [
        (1024, 1024, 400...499, 300...599, [278, 621, 278, 621],
         [(0.618, [133, 766, 133, 766]), (0, [278, 621, 278, 621]), (1, [0, 1024, 0, 1024])]),
        (600, 800, 10...19, 700...789, [0, 65, 694, 795],
         [(0.618, [0, 494, 305, 800]), (0.3, [0, 239, 560, 800])]),
    ]

    @Test(arguments: boxVectors)
    func cropBoxes(_ v: (Int, Int, ClosedRange<Int>, ClosedRange<Int>, [Int], [(Double, [Int])])) throws {
        let mask = Self.rectMask(height: v.0, width: v.1, rows: v.2, cols: v.3)
        let initial = try #require(InpaintBox.initial(mask: mask))
        #expect([initial.a, initial.b, initial.c, initial.d] == v.4)
        for (k, grown) in v.5 {
            let box = initial.grown(k: k, height: v.0, width: v.1)
            #expect([box.a, box.b, box.c, box.d] == grown, "k = \(k)")
        }
    }

    @Test func outpaintLeftBoxFromSpec() throws {
        // docs/fooocus.md §3.2: 600×800 outpainted left (→ 600×1040), field 0.618 → (0, 600, 0, 643).
        let canvas = OutpaintExpansion.expand(image: Image(width: 800, height: 600, channels: 3),
                                              mask: Image(width: 800, height: 600, channels: 1),
                                              directions: [.left])
        #expect(canvas.mask.width == 1040 && canvas.mask.height == 600)
        let box = try #require(InpaintBox.initial(mask: canvas.mask)).grown(k: 0.618, height: 600, width: 1040)
        #expect(box == InpaintBox(a: 0, b: 600, c: 0, d: 643))
    }

    @Test func emptyMaskHasNoBox() {
        #expect(InpaintBox.initial(mask: Image(width: 5, height: 5, channels: 1)) == nil)
        #expect(throws: FooocusError.emptyMask) {
            try InpaintPreparation.prepare(image: Image(width: 5, height: 5, channels: 3),
                                           mask: Image(width: 5, height: 5, channels: 1),
                                           respectiveField: 0.618, useFill: true)
        }
    }

    @Test func directionParsing() {
        #expect(OutpaintDirection(parsing: "Left") == .left)
        #expect(OutpaintDirection(parsing: "BOTTOM") == .bottom)
        #expect(OutpaintDirection(parsing: " left") == nil)
    }

    /// (method, H, W) → (H', W', fast, direct, VAE size), ESRGAN scale 4.
    static let upscaleVectors: [(String, Int, Int, Int, Int, Bool, Bool, (Int, Int)?)] = [
        ("Upscale (2x)", 512, 512, 1024, 1024, false, false, (1024, 1024)),
        ("Upscale (1.5x)", 512, 512, 1024, 1024, false, false, (1024, 1024)),
        ("Upscale (1.5x)", 333, 777, 640, 1536, false, false, (640, 1536)),
        ("Upscale (2x)", 481, 481, 962, 962, false, false, (960, 960)),
        ("Upscale (Fast 2x)", 1080, 1920, 2160, 3840, true, true, nil),
        ("Upscale (2x)", 1500, 2000, 3000, 4000, false, true, nil),
        ("Upscale (Fast 2x)", 100, 100, 1024, 1024, true, true, nil),
    ]

    @Test(arguments: upscaleVectors)
    func upscaleSizing(_ v: (String, Int, Int, Int, Int, Bool, Bool, (Int, Int)?)) throws {
        let s = try UpscaleSizing(method: v.0, height: v.1, width: v.2, upscalerScale: 4)
        #expect(s.height == v.3 && s.width == v.4, "\(v.0) \(v.1)×\(v.2) → \(s.height)×\(s.width)")
        #expect(s.isFast == v.5 && s.isDirect == v.6)
        #expect(s.vaeHeight == v.7?.0 && s.vaeWidth == v.7?.1)
    }

    @Test func upscaleFactors() {
        #expect(UpscaleSizing.factor(method: "Upscale (1.5x)") == 1.5)
        #expect(UpscaleSizing.factor(method: "upscale (fast 2x)") == 2)
        #expect(UpscaleSizing.factor(method: "Upscale (1.2x)") == 2)
        #expect(UpscaleSizing.factor(method: "Upscale (Custom)") == 1)
        #expect(UpscaleSizing.factor(method: "Upscale (Custom)", customValue: 3) == 3)
        #expect(UpscaleSizing.factor(method: "Upscale (Custom)", customValue: 5) == 2)
    }

    @Test func varySizing() throws {
        #expect(try VarySizing.size(height: 512, width: 512) == (1024, 1024))
        #expect(try VarySizing.size(height: 896, width: 1152) == (896, 1152))
        #expect(VarySizing.target(height: 3000, width: 2000) == 2048)
        #expect(VAECrop.size(height: 962, width: 1001) == (960, 1000))
    }
}
