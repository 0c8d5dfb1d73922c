import Imaging

/// Fooocus's `fooocus_fill` (docs/fooocus.md §3.3 step 7): the hole is flooded
/// with the surrounding colours by 60 Pillow `BoxBlur` passes, coarse to
/// fine, with every keep pixel restored after each pass.
///
/// Bit-exact with the Python loop but much cheaper: keep pixels never change
/// (they are restored after every pass), so each pass only writes hole
/// pixels, and only blurs the rows and columns those pixels read. The blur
/// arithmetic itself is Pillow's, pass for pass (see ``blurPass``).
public enum InpaintFill {
    /// `(radius, repeats)` of the passes, in order: 60 passes in all.
    public static let schedule: [(radius: Int, repeats: Int)] = [
        (512, 2), (256, 2), (128, 4), (64, 4), (33, 8), (15, 8), (5, 16), (3, 16),
    ]

    /// Fills `image` where `mask ≥ 127` (keep = `mask < 127`); pixels outside
    /// the hole come back unchanged. An empty hole returns the image itself.
    ///
    /// - Precondition: `mask` is one channel, the image's size.
    public static func fill(image: Image, mask: Image) -> Image {
        precondition(mask.channels == 1 && mask.width == image.width && mask.height == image.height,
                     "fill mask must be one channel of the image's size")
        let layout = HoleLayout(mask: mask, channels: image.channels)
        guard layout.rows != nil else { return image }
        var current = image.pixels
        var blurred = [UInt8](repeating: 0, count: current.count)
        for (radius, repeats) in schedule {
            let spans = layout.horizontalSpans(radius: radius)
            for _ in 0..<repeats {
                blurPass(&current, scratch: &blurred, layout: layout, spans: spans, radius: radius)
            }
        }
        return Image(width: image.width, height: image.height, channels: image.channels, pixels: current)
    }

    /// One `box_blur(cur, radius)` followed by `cur[keep] = store`, computed
    /// only for the hole samples.
    ///
    /// Pillow's box blur, per channel along a line of `n` samples with
    /// indices clamped to `[0, n − 1]`: `acc = Σ p[x−r…x+r]`,
    /// `out = (acc·ww + (p[x−r−1] + p[x+r+1])·fw + 2²³) >> 24` with
    /// `ww = ⌊2²⁴/(2r+1)⌋`, `fw = (2²⁴ − (2r+1)·ww) / 2`, in UInt32 (exact for
    /// r ≤ 512). The horizontal pass writes an 8-bit intermediate, the
    /// vertical pass reads it.
    static func blurPass(_ current: inout [UInt8], scratch: inout [UInt8], layout: HoleLayout,
                         spans: (lo: [Int], hi: [Int]), radius: Int) {
        let weights = BlurWeights(radius: radius)
        let width = layout.width
        let height = layout.height
        let channels = layout.channels
        current.withUnsafeMutableBufferPointer { cur in
            scratch.withUnsafeMutableBufferPointer { tmp in
                let source = SharedPointer(base: cur.baseAddress!)
                let target = SharedPointer(base: tmp.baseAddress!)
                // Horizontal: rows whose span is non-empty, into the scratch.
                Bands.forEach(count: height, costPerItem: width * channels) { rows in
                    var line = [UInt8](repeating: 0, count: (width + 2 * radius + 3) * channels)
                    line.withUnsafeMutableBufferPointer { line in
                        for y in rows where spans.lo[y] <= spans.hi[y] {
                            BoxLine.horizontal(
                                row: source.base + y * width * channels, width: width, channels: channels,
                                lo: spans.lo[y], hi: spans.hi[y], weights: weights,
                                line: line.baseAddress!, output: target.base + y * width * channels)
                        }
                    }
                }
                // Vertical: column strips, hole samples only, into the image.
                layout.select.withUnsafeBufferPointer { select in
                    let selectBase = select.baseAddress!
                    let strips = layout.stripRows.count
                    Bands.forEach(count: strips, costPerItem: layout.stripWidth * height) { range in
                        var acc = [UInt32](repeating: 0, count: layout.stripWidth)
                        acc.withUnsafeMutableBufferPointer { acc in
                            for strip in range {
                                let (lower, upper) = layout.stripRows[strip]
                                guard lower <= upper else { continue }
                                let first = strip * layout.stripWidth
                                let count = min(layout.stripWidth, width * channels - first)
                                BoxLine.vertical(
                                    source: UnsafePointer(target.base) + first, select: selectBase + first,
                                    output: source.base + first, stride: width * channels, count: count,
                                    height: height, rows: lower...upper, weights: weights, acc: acc.baseAddress!)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The fixed-point weights of Pillow's box blur for an integer radius.
struct BlurWeights {
    let radius: Int
    let ww: UInt32
    let fw: UInt32

    init(radius: Int) {
        self.radius = radius
        let taps = UInt32(2 * radius + 1)
        ww = (1 << 24) / taps
        fw = ((1 << 24) - taps * ww) / 2
    }
}
