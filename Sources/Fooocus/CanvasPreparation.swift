import Imaging

// Canvas preparation before the inpaint stage: the mask and image
// preprocessing of `apply_image_input` and the outpaint expansion of
// `apply_outpaint` (docs/fooocus.md §3.1, §3.2).

/// The mask and image preprocessing of Fooocus's `apply_image_input`
/// (docs/fooocus.md §3.1), before any outpaint expansion or inpaint cropping.
public enum MaskPreparation {
    /// Prepares an inpaint image and its mask, in Fooocus's order:
    ///
    /// 1. the mask's first channel, raw values (soft masks stay soft);
    /// 2. with `advancedMasking` and a multi-channel `upload`: the upload is
    ///    LANCZOS-resized to the image's size, a pixel whose channel mean
    ///    (float64 in NumPy, an exact integer compare here) exceeds 127
    ///    becomes 255, else 0, and the mask becomes the element-wise maximum
    ///    of the two (a one-channel upload is a 2-D array in Fooocus and is
    ///    skipped);
    /// 3. `erodeOrDilate` truncated toward zero: `k > 0` dilates, `k < 0`
    ///    erodes `|k|` times with a 3×3 square, before any inversion;
    /// 4. `invert`: `255 − m`;
    /// 5. HWC3 of the image (gray replicated, RGBA composited on white).
    ///
    /// Both Fooocus-API and FooocusAPI pass the mask itself as `upload`.
    ///
    /// - Throws: ``FooocusError/sizeMismatch(_:)`` when the union needs a mask
    ///   the image's size and it is not; ``FooocusError/unsupportedChannels(_:)``
    ///   for a 2-channel image (HWC3 asserts); ``FooocusError/invalidParameter(_:)``
    ///   for a non-finite or absurd `erodeOrDilate`.
    public static func prepare(
        image: Image, mask: Image, upload: Image? = nil, advancedMasking: Bool = false,
        erodeOrDilate: Double = 0, invert: Bool = false
    ) throws(FooocusError) -> (image: Image, mask: Image) {
        guard image.channels != 2 else { throw .unsupportedChannels(2) }
        guard erodeOrDilate.isFinite, abs(erodeOrDilate) < 1_000_000 else {
            throw .invalidParameter("erode_or_dilate \(erodeOrDilate)")
        }
        var m = mask.channel(0)
        if advancedMasking, let upload, upload.channels > 1 {
            guard m.width == image.width, m.height == image.height else {
                throw .sizeMismatch("mask \(m.width)×\(m.height), image \(image.width)×\(image.height)")
            }
            let fitted = Resample.lanczos(upload, width: image.width, height: image.height)
            unionWithThresholdedMean(&m, fitted)
        }
        let k = Int(erodeOrDilate)
        if k != 0 { m = Morphology.erodeOrDilate(m, k: k) }
        if invert { invertInPlace(&m) }
        return (PixelOps.hwc3(image), m)
    }

    /// Whether any mask sample exceeds 127, Fooocus's test for running the
    /// inpaint stage at all (without outpainting).
    public static func hasMaskedPixels(_ mask: Image) -> Bool {
        mask.pixels.withUnsafeBufferPointer { buffer in
            // Max-reduce in blocks so the loop vectorises and can stop early.
            var index = 0
            while index < buffer.count {
                let end = min(buffer.count, index + 4096)
                var peak: UInt8 = 0
                for i in index..<end { peak = max(peak, buffer[i]) }
                if peak > 127 { return true }
                index = end
            }
            return false
        }
    }

    /// `m = max(m, 255 if mean(u) > 127 else 0)` per pixel; `mean > 127` is
    /// `sum > 127·n` exactly, the sum of n bytes being an exact float64.
    static func unionWithThresholdedMean(_ m: inout Image, _ u: Image) {
        let n = u.channels
        let limit = 127 * n
        let count = m.width * m.height
        u.pixels.withUnsafeBufferPointer { src in
            m.pixels.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count {
                    var sum = 0
                    for c in 0..<n { sum += Int(src[i * n + c]) }
                    if sum > limit { dst[i] = 255 }
                }
            }
        }
    }

    static func invertInPlace(_ m: inout Image) {
        m.pixels.withUnsafeMutableBufferPointer { buffer in
            for i in buffer.indices { buffer[i] = 255 &- buffer[i] }
        }
    }
}


/// A side of the canvas to outpaint, parsed case-insensitively as Fooocus
/// lower-cases `outpaint_selections`.
public enum OutpaintDirection: String, Sendable, CaseIterable, Hashable {
    case left, right, top, bottom

    /// Parses `"Left"`, `"left"`, `"LEFT"`…; nil for anything else
    /// (whitespace is not trimmed, as in Fooocus-API's form parsing).
    public init?(parsing text: String) {
        self.init(rawValue: text.lowercased())
    }
}

/// Per-side outpaint distances in pixels (the API forks' `outpaint_distance`);
/// a value ≤ 0 means Fooocus's default of `int(0.3 · side)`.
public struct OutpaintDistances: Sendable, Equatable {
    public var left: Int
    public var top: Int
    public var right: Int
    public var bottom: Int

    public init(left: Int = 0, top: Int = 0, right: Int = 0, bottom: Int = 0) {
        self.left = left
        self.top = top
        self.right = right
        self.bottom = bottom
    }
}

/// Fooocus's outpaint canvas expansion (`apply_outpaint`, docs/fooocus.md §3.2).
public enum OutpaintExpansion {
    /// The rows/columns added on each side for an `height`×`width` image:
    /// top and bottom from the original H, left and right from W (vertical
    /// padding does not change W), each `distance` when > 0 else
    /// `int(0.3 · side)`.
    public static func padding(height: Int, width: Int, directions: Set<OutpaintDirection>,
                               distances: OutpaintDistances? = nil)
        -> (top: Int, bottom: Int, left: Int, right: Int)
    {
        let d = distances ?? OutpaintDistances()
        func amount(_ side: OutpaintDirection, _ given: Int, _ length: Int) -> Int {
            guard directions.contains(side) else { return 0 }
            return given > 0 ? given : Int(Double(length) * 0.3)
        }
        return (amount(.top, d.top, height), amount(.bottom, d.bottom, height),
                amount(.left, d.left, width), amount(.right, d.right, width))
    }

    /// Expands the canvas: the image is padded by edge replication (NumPy
    /// `mode='edge'`, corners take the corner pixel), the mask with 255
    /// (repaint). No directions → both returned unchanged.
    ///
    /// Fooocus 2.5.x also sets strength and respective field to 1.0 here, but
    /// too late to matter: the inpaint stage still uses the request's values.
    public static func expand(image: Image, mask: Image, directions: Set<OutpaintDirection>,
                              distances: OutpaintDistances? = nil) -> (image: Image, mask: Image)
    {
        let p = padding(height: image.height, width: image.width, directions: directions, distances: distances)
        return (image.padded(top: p.top, bottom: p.bottom, left: p.left, right: p.right, mode: .edge),
                mask.padded(top: p.top, bottom: p.bottom, left: p.left, right: p.right, mode: .constant(255)))
    }
}
