import Imaging

/// Fooocus's "shape ceil" sizing (`modules/util.py`): the side of the square
/// with the same area, rounded up to a multiple of 64, and the loop that
/// rescales an image until that number hits a target (docs/fooocus.md §3.0).
public enum ShapeCeil {
    /// `get_shape_ceil(h, w)` = `ceil(sqrt(h·w) / 64) · 64`.
    public static func shapeCeil(height: Int, width: Int) -> Int {
        shapeCeil(height: Double(height), width: Double(width))
    }

    /// `get_shape_ceil` on real-valued sides, as the upscale path calls it with
    /// `H·f`, `W·f`; the product is formed first, as in Python.
    public static func shapeCeil(height: Double, width: Double) -> Int {
        Int(((height * width).squareRoot() / 64).rounded(.up) * 64)
    }

    /// `get_image_shape_ceil(im)`: ``shapeCeil(height:width:)`` of an image's size.
    public static func shapeCeil(of image: Image) -> Int {
        shapeCeil(height: image.height, width: image.width)
    }

    /// The size `set_image_shape_ceil` resizes a `height`×`width` image to.
    ///
    /// Up to 256 rounds: stop when `|ceil − target| < 0.1`, otherwise scale
    /// both sides by `k = target / ceil` and round each to a multiple of 64
    /// with banker's rounding (Python `round`), from the *current* sides.
    /// `loops` counts the rounds that rescaled. A result equal to the input
    /// means "leave the image alone" (sides need not be multiples of 64 then).
    ///
    /// - Throws: ``FooocusError/degenerateShape(height:width:)`` when a side
    ///   is or becomes zero (Fooocus raises `ZeroDivisionError` there), and
    ///   ``FooocusError/invalidParameter(_:)`` for a non-positive target.
    public static func targetSize(height: Int, width: Int, target: Int)
        throws(FooocusError) -> (height: Int, width: Int, loops: Int)
    {
        guard target > 0 else { throw .invalidParameter("shape-ceil target \(target)") }
        guard height >= 0, width >= 0 else { throw .degenerateShape(height: height, width: width) }
        let goal = Double(target)
        var h = height
        var w = width
        var loops = 0
        for _ in 0..<256 {
            let current = Double(shapeCeil(height: h, width: w))
            if abs(current - goal) < 0.1 { break }
            guard current > 0 else { throw .degenerateShape(height: h, width: w) }
            let k = goal / current
            h = Int((Double(h) * k / 64).rounded(.toNearestOrEven)) * 64
            w = Int((Double(w) * k / 64).rounded(.toNearestOrEven)) * 64
            loops += 1
        }
        return (h, w, loops)
    }

    /// `set_image_shape_ceil(im, target)`: the image itself when
    /// ``targetSize(height:width:target:)`` leaves its size unchanged, else its
    /// Pillow-LANCZOS resize to that size.
    ///
    /// - Throws: as ``targetSize(height:width:target:)``.
    public static func setImageShapeCeil(_ image: Image, target: Int) throws(FooocusError) -> Image {
        let size = try targetSize(height: image.height, width: image.width, target: target)
        if size.height == image.height && size.width == image.width { return image }
        return Resample.lanczos(image, width: size.width, height: size.height)
    }
}

/// The pixel crop ComfyUI's `VAEEncode` applies before encoding
/// (`vae_encode_crop_pixels`, docs/fooocus.md §3.4): sides are cut down to
/// multiples of 8, centred.
public enum VAECrop {
    /// The size after the crop: `⌊H/8⌋·8 × ⌊W/8⌋·8`.
    public static func size(height: Int, width: Int) -> (height: Int, width: Int) {
        (height / 8 * 8, width / 8 * 8)
    }

    /// Crops an image as the VAE encoder does, starting at
    /// `((H mod 8) / 2, (W mod 8) / 2)`; the image itself when both sides
    /// are already multiples of 8.
    public static func crop(_ image: Image) -> Image {
        let size = size(height: image.height, width: image.width)
        if size.height == image.height && size.width == image.width { return image }
        return image.cropped(x: (image.width % 8) / 2, y: (image.height % 8) / 2,
                             width: size.width, height: size.height)
    }
}
