import Imaging

/// Everything Fooocus's InpaintWorker computes before and after diffusion
/// (docs/fooocus.md §3.3 steps 1–8 and 10) for one canvas and mask: the crop box,
/// the working-size crop, mask and fill the diffusion starts from, and the
/// feathered mask that blends its result back.
public struct InpaintPreparation: Sendable {
    /// The canvas I (RGB, after HWC3 and any outpaint expansion).
    public let image: Image
    /// The canvas mask m (one channel, may be soft).
    public let mask: Image
    /// The crop box `(a, b, c, d)`: the initial box grown to the field k.
    public let box: InpaintBox
    /// `interested_image`: the crop, super-resolved when its shape ceil is
    /// below 1024, then `set_image_shape_ceil(…, 1024)`.
    public let workingCrop: Image
    /// `interested_mask`: the crop's mask LANCZOS-resized to the working size
    /// and thresholded (> 127 → 255, else 0).
    public let workingMask: Image
    /// `interested_fill`: ``InpaintFill`` of the working crop when filling,
    /// else the working crop itself.
    public let fill: Image
    /// The full-canvas feathered mask of ``BlendMask``.
    public let blendMask: Image

    /// The size diffusion runs at (the working crop's).
    public var workingHeight: Int { workingCrop.height }
    public var workingWidth: Int { workingCrop.width }

    /// Prepares an inpaint of `image` (3 channels) under `mask` (1 channel,
    /// same size). `respectiveField` is Fooocus's k in [0, 1]; `useFill` is
    /// Fooocus's `strength > 0.99`. `upscaler` stands in for ESRGAN on crops
    /// whose shape ceil is below 1024.
    ///
    /// - Throws: ``FooocusError/emptyMask`` when no mask sample is non-zero;
    ///   ``FooocusError/sizeMismatch(_:)``, ``FooocusError/unsupportedChannels(_:)``
    ///   and ``FooocusError/invalidParameter(_:)`` for unusable arguments.
    public static func prepare(image: Image, mask: Image, respectiveField: Double, useFill: Bool,
                               upscaler: any Upscaler = LanczosUpscaler()) throws(FooocusError) -> InpaintPreparation {
        guard image.channels == 3 else { throw .unsupportedChannels(image.channels) }
        guard mask.channels == 1 else { throw .unsupportedChannels(mask.channels) }
        guard mask.width == image.width, mask.height == image.height else {
            throw .sizeMismatch("mask \(mask.width)×\(mask.height), image \(image.width)×\(image.height)")
        }
        guard respectiveField >= 0, respectiveField <= 1 else {
            throw .invalidParameter("inpaint_respective_field \(respectiveField) outside [0, 1]")
        }
        guard let initial = InpaintBox.initial(mask: mask) else { throw .emptyMask }
        let box = initial.grown(k: respectiveField, height: image.height, width: image.width)
        var crop = image.cropped(x: box.c, y: box.a, width: box.width, height: box.height)
        let cropMask = mask.cropped(x: box.c, y: box.a, width: box.width, height: box.height)
        if ShapeCeil.shapeCeil(of: crop) < 1024 { crop = upscaler.upscale(crop) }
        crop = try ShapeCeil.setImageShapeCeil(crop, target: 1024)
        let working = PixelOps.up255(Resample.lanczos(cropMask, width: crop.width, height: crop.height),
                                     threshold: 127)
        let fill = useFill ? InpaintFill.fill(image: crop, mask: working) : crop
        return InpaintPreparation(image: image, mask: mask, box: box, workingCrop: crop, workingMask: working,
                                  fill: fill, blendMask: BlendMask.feathered(mask: mask))
    }

    /// Fooocus's `post_process`: the generated working-size image is
    /// LANCZOS-resized to the box, pasted into a copy of the canvas, and
    /// blended with the original through the feathered mask
    /// (``PasteBack/blend(result:original:weights:)``). The output has the
    /// canvas size; pixels 32 or more from the mask are the input's.
    ///
    /// - Precondition: `generated` has 3 channels.
    public func finish(generated: Image) -> Image {
        PasteBack.pasteBack(original: image, generated: generated, box: box, blendMask: blendMask)
    }
}

/// The paste-back and colour-correction blend of InpaintWorker.post_process
/// (docs/fooocus.md §3.3 step 10).
public enum PasteBack {
    /// `R = copy(I)`, `R[a:b, c:d] = LANCZOS(generated, d−c, b−a)`, then
    /// ``blend(result:original:weights:)`` of R over I.
    ///
    /// - Precondition: `generated` and `original` have 3 channels; the box
    ///   lies in `original`; `blendMask` is one channel of its size.
    public static func pasteBack(original: Image, generated: Image, box: InpaintBox, blendMask: Image) -> Image {
        precondition(generated.channels == original.channels, "generated image must match the canvas's channels")
        var result = original
        result.paste(Resample.lanczos(generated, width: box.width, height: box.height), x: box.c, y: box.a)
        return blend(result: result, original: original, weights: blendMask)
    }

    /// `Y = float32(R)·w + float32(I)·(1 − w)`, `w = float32(mask)/255`, all in
    /// Float with the multiplies and the add rounded separately (no fused
    /// multiply-add), clipped to [0, 255] and truncated. Every
    /// feathered pixel is computed: for 0 < w < 1 the formula need not return I
    /// even where R = I.
    ///
    /// - Precondition: equal sizes and channel counts; `weights` one channel.
    public static func blend(result: Image, original: Image, weights: Image) -> Image {
        precondition(result.width == original.width && result.height == original.height
                     && result.channels == original.channels, "blend needs equal images")
        precondition(weights.channels == 1 && weights.width == original.width && weights.height == original.height,
                     "blend weights must be one channel of the image's size")
        let table = BlendTable.shared
        let width = original.width
        let ch = original.channels
        // w = 0 gives exactly I (R·0 + I·1) and w = 1 exactly R, so only
        // feathered pixels need the arithmetic; the rest are copies.
        var out = original.pixels
        result.pixels.withUnsafeBufferPointer { fg in
            original.pixels.withUnsafeBufferPointer { bg in
                weights.pixels.withUnsafeBufferPointer { m in
                    out.withUnsafeMutableBufferPointer { o in
                        let dst = SharedPointer(base: o.baseAddress!)
                        let (f, b, w) = (fg.baseAddress!, bg.baseAddress!, m.baseAddress!)
                        Bands.forEach(count: original.height, costPerItem: width * ch) { rows in
                            for i in rows.lowerBound * width..<rows.upperBound * width {
                                let m = w[i]
                                if m == 0 { continue }
                                if m == 255 {
                                    for k in i * ch..<(i + 1) * ch { dst.base[k] = f[k] }
                                    continue
                                }
                                let (weight, rest) = (table.weight[Int(m)], table.rest[Int(m)])
                                for k in i * ch..<(i + 1) * ch { dst.base[k] = blendSample(f[k], b[k], weight, rest) }
                            }
                        }
                    }
                }
            }
        }
        return Image(width: width, height: original.height, channels: ch, pixels: out)
    }

    /// One sample: two Float products, each rounded, then a rounded sum.
    /// Swift does not emit LLVM's `contract` flag, so `a·b + c·d` is never
    /// fused into a multiply-add (checked on the release build's code).
    @inline(__always)
    static func blendSample(_ fg: UInt8, _ bg: UInt8, _ weight: Float, _ rest: Float) -> UInt8 {
        let front = Float(fg) * weight
        let back = Float(bg) * rest
        let y = front + back
        return UInt8(min(max(y, 0), 255))
    }
}

/// `w = float32(m) / 255` and `1 − w` in Float for every mask value.
struct BlendTable: Sendable {
    let weight: [Float]
    let rest: [Float]
    static let shared = BlendTable()

    init() {
        weight = (0...255).map { Float($0) / 255 }
        rest = weight.map { 1 - $0 }
    }
}
