/// An 8-bit image held in memory: interleaved channels, rows top to bottom,
/// no row padding, so pixel (x, y) channel c lives at
/// `pixels[(y * width + x) * channels + c]`.
///
/// `channels` is 1 (gray), 3 (RGB) or 4 (RGBA). 2 (gray+alpha) is accepted by
/// the encoders and by ``converted(toChannels:)`` but the decoders never
/// produce it. Values are plain sRGB-ish bytes: no colour management is ever
/// applied, and EXIF orientation is never applied either (Fooocus, whose
/// outputs this mirrors, does not rotate by EXIF).
public struct Image: Sendable, Equatable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// Samples per pixel: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
    public var channels: Int
    /// `width * height * channels` bytes, row-major.
    public var pixels: [UInt8]

    /// Wraps existing pixel bytes.
    ///
    /// - Precondition: `pixels.count == width * height * channels`, sides are
    ///   non-negative and `channels` is 1...4. Violations are programmer
    ///   errors; untrusted input should go through ``ImageCodec/decode(_:limits:)``.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0, "negative image size")
        precondition((1...4).contains(channels), "channels must be 1...4")
        precondition(pixels.count == width * height * channels,
                     "pixel buffer holds \(pixels.count) bytes, expected \(width * height * channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// Creates an image with every sample set to `fill`.
    ///
    /// - Precondition: as for ``init(width:height:channels:pixels:)``.
    public init(width: Int, height: Int, channels: Int, fill: UInt8 = 0) {
        precondition(width >= 0 && height >= 0, "negative image size")
        self.init(width: width, height: height, channels: channels,
                  pixels: [UInt8](repeating: fill, count: width * height * channels))
    }

    /// Whether the last channel is alpha (channels 2 or 4).
    public var hasAlpha: Bool { channels == 2 || channels == 4 }

    /// Whether `pixels.count` agrees with the dimensions. The stored
    /// properties are public and mutable, so encoders re-check this.
    public var isConsistent: Bool {
        guard width >= 0, height >= 0, (1...4).contains(channels) else { return false }
        let (wh, o1) = width.multipliedReportingOverflow(by: height)
        let (n, o2) = wh.multipliedReportingOverflow(by: channels)
        return !o1 && !o2 && n == pixels.count
    }

    /// Returns the image with `channels` samples per pixel, following
    /// Pillow's `convert`: gray is replicated into R, G and B; colour becomes
    /// gray with the ITU-R 601-2 luma weights Pillow uses; alpha is dropped
    /// without compositing, or added as fully opaque (255).
    ///
    /// - Precondition: `channels` is 1...4 and the image is consistent.
    public func converted(toChannels target: Int) -> Image {
        precondition((1...4).contains(target), "channels must be 1...4")
        precondition(isConsistent, "inconsistent image")
        if target == channels { return self }
        let count = width * height
        let source = channels
        let sourceColor = source >= 3
        let sourceAlpha = hasAlpha
        let targetColor = target >= 3
        let targetAlpha = target == 2 || target == 4
        var out = [UInt8](repeating: 0, count: count * target)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count {
                    let s = i * source
                    let d = i * target
                    if targetColor {
                        if sourceColor {
                            dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
                        } else {
                            dst[d] = src[s]; dst[d + 1] = src[s]; dst[d + 2] = src[s]
                        }
                    } else {
                        dst[d] = sourceColor ? Self.luma(src[s], src[s + 1], src[s + 2]) : src[s]
                    }
                    if targetAlpha {
                        dst[d + target - 1] = sourceAlpha ? src[s + source - 1] : 255
                    }
                }
            }
        }
        return Image(width: width, height: height, channels: target, pixels: out)
    }

    /// Pillow's fixed-point L = R*299/1000 + G*587/1000 + B*114/1000, rounded.
    @inline(__always)
    static func luma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        let sum = UInt32(r) * 19_595 + UInt32(g) * 38_470 + UInt32(b) * 7_471 + 0x8000
        return UInt8(truncatingIfNeeded: sum >> 16)
    }
}
