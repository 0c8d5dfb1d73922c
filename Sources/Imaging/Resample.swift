/// Pillow-identical resampling.
public enum Resample {
    /// Identical to Pillow 10.4 `Image.resize((width, height), LANCZOS)` for
    /// gray, RGB and RGBA (and gray+alpha).
    ///
    /// Separable fixed-point passes as Pillow runs them: the horizontal pass
    /// first (into an 8-bit intermediate), then the vertical one; an axis whose
    /// size does not change is skipped, and an unchanged size returns a copy.
    /// Images with alpha are resized premultiplied (Pillow's RGBA → RGBa →
    /// RGBA round trip, with its integer rounding).
    ///
    /// - Precondition: the image is consistent and non-empty, and `width`,
    ///   `height` are positive.
    public static func lanczos(_ image: Image, width: Int, height: Int) -> Image {
        precondition(image.isConsistent, "inconsistent image")
        precondition(image.width > 0 && image.height > 0, "cannot resize an empty image")
        precondition(width > 0 && height > 0, "target size must be positive")
        if width == image.width && height == image.height { return image }
        if image.hasAlpha {
            let premultiplied = AlphaPremultiplication.premultiplied(image)
            return AlphaPremultiplication.unpremultiplied(resampled(premultiplied, width: width, height: height))
        }
        return resampled(image, width: width, height: height)
    }

    /// The two passes, without any alpha handling.
    static func resampled(_ image: Image, width: Int, height: Int) -> Image {
        let needHorizontal = width != image.width
        let needVertical = height != image.height
        var current = image
        if needHorizontal {
            let kernel = LanczosKernel.cached(inSize: image.width, outSize: width)
            var rows = 0..<image.height
            if needVertical {
                // Only the input rows the vertical pass reads, as Pillow does.
                let vertical = LanczosKernel.cached(inSize: image.height, outSize: height)
                rows = vertical.start[0]..<(vertical.start[height - 1] + vertical.count[height - 1])
            }
            current = horizontal(image, rows: rows, kernel: kernel)
            if needVertical {
                return vertical(current, rowOffset: rows.lowerBound,
                                kernel: LanczosKernel.cached(inSize: image.height, outSize: height))
            }
            return current
        }
        return vertical(current, rowOffset: 0, kernel: LanczosKernel.cached(inSize: image.height, outSize: height))
    }

    /// Resamples each row in `rows` of `image` to `kernel.outSize` pixels.
    static func horizontal(_ image: Image, rows: Range<Int>, kernel: LanczosKernel) -> Image {
        let ch = image.channels
        let inRow = image.width * ch
        let outW = kernel.outSize
        let outRow = outW * ch
        let taps = kernel.taps
        return Image.build(width: outW, height: rows.count, channels: ch) { dst in
            image.pixels.withUnsafeBufferPointer { srcBuffer in
                kernel.weights.withUnsafeBufferPointer { weightBuffer in
                    kernel.start.withUnsafeBufferPointer { startBuffer in
                        kernel.count.withUnsafeBufferPointer { countBuffer in
                            let src = srcBuffer.baseAddress!
                            let wts = weightBuffer.baseAddress!
                            let starts = startBuffer.baseAddress!
                            let counts = countBuffer.baseAddress!
                            Parallel.forEachBand(count: rows.count, costPerItem: outRow * taps) { band in
                                for row in band {
                                    let line = src + (rows.lowerBound + row) * inRow
                                    let target = dst + row * outRow
                                    switch ch {
                                    case 1: horizontalLine1(line, target, outW, taps, wts, starts, counts)
                                    case 3: horizontalLine3(line, target, outW, taps, wts, starts, counts)
                                    default: horizontalLineN(line, target, outW, ch, taps, wts, starts, counts)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    private static func horizontalLine1(
        _ line: UnsafePointer<UInt8>, _ target: UnsafeMutablePointer<UInt8>, _ outW: Int, _ taps: Int,
        _ wts: UnsafePointer<Int32>, _ starts: UnsafePointer<Int>, _ counts: UnsafePointer<Int>
    ) {
        for x in 0..<outW {
            let k = wts + x * taps
            let p = line + starts[x]
            var sum = LanczosKernel.half
            for i in 0..<counts[x] { sum &+= Int32(p[i]) &* k[i] }
            target[x] = LanczosKernel.clip(sum)
        }
    }

    @inline(__always)
    private static func horizontalLine3(
        _ line: UnsafePointer<UInt8>, _ target: UnsafeMutablePointer<UInt8>, _ outW: Int, _ taps: Int,
        _ wts: UnsafePointer<Int32>, _ starts: UnsafePointer<Int>, _ counts: UnsafePointer<Int>
    ) {
        for x in 0..<outW {
            let k = wts + x * taps
            var p = line + starts[x] * 3
            var s0 = LanczosKernel.half, s1 = LanczosKernel.half, s2 = LanczosKernel.half
            for i in 0..<counts[x] {
                let w = k[i]
                s0 &+= Int32(p[0]) &* w
                s1 &+= Int32(p[1]) &* w
                s2 &+= Int32(p[2]) &* w
                p += 3
            }
            let t = target + x * 3
            t[0] = LanczosKernel.clip(s0)
            t[1] = LanczosKernel.clip(s1)
            t[2] = LanczosKernel.clip(s2)
        }
    }

    @inline(__always)
    private static func horizontalLineN(
        _ line: UnsafePointer<UInt8>, _ target: UnsafeMutablePointer<UInt8>, _ outW: Int, _ ch: Int,
        _ taps: Int, _ wts: UnsafePointer<Int32>, _ starts: UnsafePointer<Int>, _ counts: UnsafePointer<Int>
    ) {
        // 2 or 4 channels: four accumulators cover both (the unused ones idle).
        for x in 0..<outW {
            let k = wts + x * taps
            var p = line + starts[x] * ch
            var s0 = LanczosKernel.half, s1 = LanczosKernel.half
            var s2 = LanczosKernel.half, s3 = LanczosKernel.half
            if ch == 4 {
                for i in 0..<counts[x] {
                    let w = k[i]
                    s0 &+= Int32(p[0]) &* w
                    s1 &+= Int32(p[1]) &* w
                    s2 &+= Int32(p[2]) &* w
                    s3 &+= Int32(p[3]) &* w
                    p += 4
                }
            } else {
                for i in 0..<counts[x] {
                    let w = k[i]
                    s0 &+= Int32(p[0]) &* w
                    s1 &+= Int32(p[1]) &* w
                    p += 2
                }
            }
            let t = target + x * ch
            t[0] = LanczosKernel.clip(s0)
            t[1] = LanczosKernel.clip(s1)
            if ch == 4 {
                t[2] = LanczosKernel.clip(s2)
                t[3] = LanczosKernel.clip(s3)
            }
        }
    }

    /// Resamples the columns of `image` to `kernel.outSize` rows; input row
    /// `r` of the kernel is row `r - rowOffset` of `image`.
    static func vertical(_ image: Image, rowOffset: Int, kernel: LanczosKernel) -> Image {
        let rowBytes = image.width * image.channels
        let outH = kernel.outSize
        let taps = kernel.taps
        return Image.build(width: image.width, height: outH, channels: image.channels) { dst in
            image.pixels.withUnsafeBufferPointer { srcBuffer in
                kernel.weights.withUnsafeBufferPointer { weightBuffer in
                    let src = srcBuffer.baseAddress!
                    let wts = weightBuffer.baseAddress!
                    Parallel.forEachBand(count: outH, costPerItem: rowBytes * taps) { band in
                        let rows = UnsafeMutablePointer<UnsafePointer<UInt8>>.allocate(capacity: taps)
                        let high = UnsafeMutablePointer<Int32>.allocate(capacity: taps)
                        let low = UnsafeMutablePointer<Int32>.allocate(capacity: taps)
                        defer { rows.deallocate(); high.deallocate(); low.deallocate() }
                        for y in band {
                            let first = kernel.start[y] - rowOffset
                            let k = wts + y * taps
                            let n = kernel.count[y]
                            for i in 0..<n {
                                rows[i] = UnsafePointer(src + (first + i) * rowBytes)
                                high[i] = k[i] >> 8
                                low[i] = k[i] & 0xFF
                            }
                            let target = dst + y * rowBytes
                            var j = 0
                            if kernel.splitWeightsFit {
                                j = verticalBlocks(rows, high, low, n, target, rowBytes)
                            }
                            while j < rowBytes {
                                var sum = LanczosKernel.half
                                for i in 0..<n { sum &+= Int32(rows[i][j]) &* k[i] }
                                target[j] = LanczosKernel.clip(sum)
                                j &+= 1
                            }
                        }
                    }
                }
            }
        }
    }

    /// The vertical sums of 16 columns at a time, held in registers across
    /// all taps. Each weight is split as `w = high·256 + low` with `high`
    /// fitting 16 bits and `low` 8, so every product is a 16×16-bit multiply
    /// (cheap on every SIMD unit); `(Σ p·high)·256 + Σ p·low` equals `Σ p·w`
    /// exactly (modulo 2^32, and the true sum fits in 32 bits). Returns the
    /// number of columns done.
    @inline(__always)
    private static func verticalBlocks(
        _ rows: UnsafePointer<UnsafePointer<UInt8>>, _ high: UnsafePointer<Int32>, _ low: UnsafePointer<Int32>,
        _ n: Int, _ target: UnsafeMutablePointer<UInt8>, _ count: Int
    ) -> Int {
        var j = 0
        while j &+ 16 <= count {
            var sumHigh = SIMD16<Int32>(repeating: 0)
            var sumLow = SIMD16<Int32>(repeating: LanczosKernel.half)
            for i in 0..<n {
                let bytes = UnsafeRawPointer(rows[i] + j).loadUnaligned(as: SIMD16<UInt8>.self)
                let px = SIMD16<Int32>(truncatingIfNeeded: bytes)
                sumHigh &+= px &* SIMD16<Int32>(repeating: Int32(Int16(truncatingIfNeeded: high[i])))
                sumLow &+= px &* SIMD16<Int32>(repeating: Int32(UInt8(truncatingIfNeeded: low[i])))
            }
            let shifted = ((sumHigh &<< 8) &+ sumLow) &>> LanczosKernel.precisionBits
            let zero = SIMD16<Int32>(repeating: 0)
            let top = SIMD16<Int32>(repeating: 255)
            let floored = shifted.replacing(with: zero, where: shifted .< zero)
            let clamped = floored.replacing(with: top, where: floored .> top)
            UnsafeMutableRawPointer(target + j).storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: clamped),
                                                           as: SIMD16<UInt8>.self)
            j &+= 16
        }
        return j
    }
}

/// Pillow's RGBA ⇄ RGBa (and LA ⇄ La) conversions, which `Image.resize`
/// wraps around every non-NEAREST resample of an image with alpha.
enum AlphaPremultiplication {
    /// Colour samples scaled by alpha with Pillow's `MULDIV255`:
    /// `t = c·a + 128; ((t >> 8) + t) >> 8`. Alpha is the last channel.
    static func premultiplied(_ image: Image) -> Image {
        precondition(image.hasAlpha, "premultiplication needs an alpha channel")
        var out = image
        let ch = image.channels
        let count = image.width * image.height
        out.pixels.withUnsafeMutableBufferPointer { buffer in
            let p = buffer.baseAddress!
            for i in 0..<count {
                let px = p + i * ch
                let alpha = UInt32(px[ch - 1])
                for c in 0..<(ch - 1) {
                    let t = UInt32(px[c]) * alpha + 128
                    px[c] = UInt8(truncatingIfNeeded: ((t >> 8) + t) >> 8)
                }
            }
        }
        return out
    }

    /// Undoes ``premultiplied(_:)`` as Pillow does: alpha 0 and 255 leave the
    /// colour as is, otherwise `min(255, 255·c / a)` in integer division.
    static func unpremultiplied(_ image: Image) -> Image {
        precondition(image.hasAlpha, "unpremultiplication needs an alpha channel")
        var out = image
        let ch = image.channels
        let count = image.width * image.height
        out.pixels.withUnsafeMutableBufferPointer { buffer in
            let p = buffer.baseAddress!
            for i in 0..<count {
                let px = p + i * ch
                let alpha = UInt32(px[ch - 1])
                if alpha == 0 || alpha == 255 { continue }
                for c in 0..<(ch - 1) {
                    px[c] = UInt8(min(255, 255 * UInt32(px[c]) / alpha))
                }
            }
        }
        return out
    }
}
