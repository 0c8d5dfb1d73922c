import Imaging

/// The super-resolution step Fooocus runs before upscaling and on small
/// inpaint crops (`perform_upscale`, ESRGAN in Fooocus).
public protocol Upscaler: Sendable {
    /// The integer factor by which ``upscale(_:)`` multiplies both sides.
    var scale: Int { get }
    /// Returns the image `scale` times larger on each side.
    func upscale(_ image: Image) -> Image
}

/// A stand-in for Fooocus's ESRGAN upscaler (`fooocus_upscaler_s409985e5.bin`,
/// a neural RRDBNet whose weights are not available here): a plain Pillow
/// LANCZOS resize by `scale` (4, the factor ESRGAN is assumed to have).
/// Output sizes match ESRGAN's if its scale is 4; pixels do not.
public struct LanczosUpscaler: Upscaler {
    public let scale: Int

    public init(scale: Int = 4) {
        precondition(scale >= 1, "upscale factor must be positive")
        self.scale = scale
    }

    public func upscale(_ image: Image) -> Image {
        Resample.lanczos(image, width: image.width * scale, height: image.height * scale)
    }
}

/// The sizing of Fooocus's upscale path (`apply_upscale`, docs/fooocus.md §3.4)
/// for an H×W input and an upscaler of a given scale.
public struct UpscaleSizing: Sendable, Equatable {
    /// The requested factor f.
    public let factor: Double
    /// `get_shape_ceil(H·f, W·f)` from the original size.
    public let shapeCeil: Int
    /// "Fast 2x": the resized ESRGAN output is the result (no diffusion).
    public let isFast: Bool
    /// The result skips diffusion: fast, or "super large" (shape ceil > 2800).
    public let isDirect: Bool
    /// Size of the resized ESRGAN output (the result when direct).
    public let height: Int
    public let width: Int
    /// Size after the VAE pixel crop (multiples of 8), the diffusion and
    /// output size when not direct; nil when direct.
    public let vaeHeight: Int?
    public let vaeWidth: Int?

    /// The factor f of a method name, matched case-insensitively as Fooocus
    /// does: contains "1.5x" → 1.5, else contains "2x" → 2 (also "Fast 2x",
    /// and e.g. "1.2x"), else `customValue` by Fooocus-API's rule (the value
    /// when 0 < v < 5, else 2), else 1 (Fooocus 2.5.5).
    public static func factor(method: String, customValue: Double? = nil) -> Double {
        let m = method.lowercased()
        if m.contains("1.5x") { return 1.5 }
        if m.contains("2x") { return 2.0 }
        if let v = customValue { return v > 0 && v < 5 ? v : 2.0 }
        return 1.0
    }

    /// Plans an upscale of an `height`×`width` image whose ESRGAN output is
    /// `upscalerScale` times larger: when `s = get_shape_ceil(H·f, W·f) < 1024`
    /// the output is `set_image_shape_ceil(up, 1024)` (from the *upscaled*
    /// size, so the scale matters), else LANCZOS to `int(W·f) × int(H·f)`.
    ///
    /// - Throws: ``FooocusError/invalidParameter(_:)`` for a non-positive
    ///   size, scale or factor; shape-ceil errors as ``ShapeCeil``.
    public init(method: String, height: Int, width: Int, upscalerScale: Int,
                customValue: Double? = nil) throws(FooocusError) {
        try self.init(factor: Self.factor(method: method, customValue: customValue),
                      isFast: method.lowercased().contains("fast"), height: height, width: width,
                      upscalerScale: upscalerScale)
    }

    /// Plans an upscale by an explicit factor `f` (a custom factor, which
    /// Fooocus-API and FooocusAPI resolve from their own fields), by the
    /// rules of ``init(method:height:width:upscalerScale:customValue:)``.
    public init(factor f: Double, isFast: Bool, height: Int, width: Int,
                upscalerScale: Int) throws(FooocusError) {
        guard height > 0, width > 0, upscalerScale > 0 else {
            throw .invalidParameter("upscale of \(width)×\(height) by \(upscalerScale)")
        }
        guard f.isFinite, f > 0 else { throw .invalidParameter("upscale factor \(f)") }
        factor = f
        var s = ShapeCeil.shapeCeil(height: Double(height) * f, width: Double(width) * f)
        shapeCeil = s
        if s < 1024 {
            let size = try ShapeCeil.targetSize(height: height * upscalerScale, width: width * upscalerScale,
                                                target: 1024)
            (self.height, self.width) = (size.height, size.width)
            s = 1024
        } else {
            (self.height, self.width) = (Int(Double(height) * f), Int(Double(width) * f))
        }
        self.isFast = isFast
        isDirect = isFast || s > 2800
        if isDirect {
            (vaeHeight, vaeWidth) = (nil, nil)
        } else {
            let vae = VAECrop.size(height: self.height, width: self.width)
            (vaeHeight, vaeWidth) = (vae.height, vae.width)
        }
    }

    /// Runs the deterministic part of an upscale: HWC3, the upscaler, and the
    /// resize planned above (from the upscaler's actual output). The VAE crop
    /// is left to the caller (``VAECrop``), as it belongs to the encoder.
    ///
    /// - Throws: ``FooocusError/unsupportedChannels(_:)`` for 2 channels, and
    ///   as ``init(method:height:width:upscalerScale:customValue:)``.
    public static func upscale(_ image: Image, method: String, upscaler: any Upscaler = LanczosUpscaler(),
                               customValue: Double? = nil) throws(FooocusError) -> (image: Image, sizing: UpscaleSizing) {
        try upscale(image, factor: factor(method: method, customValue: customValue),
                    isFast: method.lowercased().contains("fast"), upscaler: upscaler)
    }

    /// ``upscale(_:method:upscaler:customValue:)`` by an explicit factor.
    public static func upscale(_ image: Image, factor: Double, isFast: Bool = false,
                               upscaler: any Upscaler = LanczosUpscaler()) throws(FooocusError) -> (image: Image, sizing: UpscaleSizing) {
        guard image.channels != 2 else { throw .unsupportedChannels(2) }
        let sizing = try UpscaleSizing(factor: factor, isFast: isFast, height: image.height, width: image.width,
                                       upscalerScale: upscaler.scale)
        let up = upscaler.upscale(PixelOps.hwc3(image))
        if sizing.shapeCeil < 1024 {
            return (try ShapeCeil.setImageShapeCeil(up, target: 1024), sizing)
        }
        return (Resample.lanczos(up, width: sizing.width, height: sizing.height), sizing)
    }
}

/// The sizing of Fooocus's vary path (`apply_vary`, docs/fooocus.md §3.4).
public enum VarySizing {
    /// The shape-ceil target vary resizes to: 1024 below 1024, 2048 above
    /// 2048, nil (unchanged) in between.
    public static func target(height: Int, width: Int) -> Int? {
        let s = ShapeCeil.shapeCeil(height: height, width: width)
        return s < 1024 ? 1024 : s > 2048 ? 2048 : nil
    }

    /// The size vary diffuses at, before the VAE crop.
    public static func size(height: Int, width: Int) throws(FooocusError) -> (height: Int, width: Int) {
        guard let target = target(height: height, width: width) else { return (height, width) }
        let size = try ShapeCeil.targetSize(height: height, width: width, target: target)
        return (size.height, size.width)
    }

    /// HWC3, then `set_image_shape_ceil` to the target when there is one.
    public static func resize(_ image: Image) throws(FooocusError) -> Image {
        guard image.channels != 2 else { throw .unsupportedChannels(2) }
        let rgb = PixelOps.hwc3(image)
        guard let target = target(height: rgb.height, width: rgb.width) else { return rgb }
        return try ShapeCeil.setImageShapeCeil(rgb, target: target)
    }
}
