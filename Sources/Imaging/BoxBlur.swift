/// Pillow-identical box blur.
public enum BoxBlur {
    /// Identical to Pillow 10.4 `image.filter(ImageFilter.BoxBlur(radius))`
    /// for any channel count (channels are blurred independently; alpha is
    /// not premultiplied, as in Pillow).
    ///
    /// One horizontal pass, then one vertical pass over its 8-bit result. On a
    /// line of `n` samples with indices clamped to `0..<n` (edge replication,
    /// so any radius works, including one larger than the image):
    /// `acc = Σ p[x-r...x+r]`, `ww = ⌊2^24 / (2r+1)⌋`,
    /// `fw = (2^24 − (2r+1)·ww) / 2`, and
    /// `out = (acc·ww + (p[x-r-1] + p[x+r+1])·fw + 2^23) >> 24` in `UInt32`.
    /// Each pass is a running sum, so the cost does not depend on `radius`.
    ///
    /// - Precondition: `radius >= 0` and the image is consistent. Radius 0
    ///   returns the image unchanged.
    public static func blur(_ image: Image, radius: Int) -> Image {
        precondition(image.isConsistent, "inconsistent image")
        precondition(radius >= 0, "radius must be >= 0")
        if radius == 0 || image.width == 0 || image.height == 0 { return image }
        let weights = Weights(radius: radius)
        let horizontalPass = horizontal(image, radius: radius, weights: weights)
        return vertical(horizontalPass, radius: radius, weights: weights)
    }

    /// The fixed-point weights of one pass.
    struct Weights {
        /// Weight of each of the `2r+1` pixels inside the box.
        let inner: UInt32
        /// Weight of each of the two pixels just outside it (the rounding
        /// remainder of `inner`, split in two).
        let outer: UInt32

        init(radius: Int) {
            // Pillow divides in single precision and truncates; for every
            // radius that matters this equals the integer floor.
            let span = Float(radius) * 2 + 1
            inner = UInt32(Float(1 << 24) / span)
            outer = (UInt32(1 << 24) &- UInt32(truncatingIfNeeded: radius * 2 + 1) &* inner) / 2
        }

        @inline(__always)
        func apply(_ acc: UInt32, _ far: UInt32) -> UInt8 {
            UInt8(truncatingIfNeeded: (acc &* inner &+ far &* outer &+ (1 << 23)) >> 24)
        }
    }

    /// Blurs every row. Each row is first laid out edge-padded by `r+1`
    /// pixels on both sides (so `P[x + r + 1] = p[x]` and indices past the
    /// ends repeat the end pixels), then prefix-summed per channel; the box sum
    /// around x is `S[x + 2r + 2] − S[x + 1]` and the two outer pixels are
    /// `P[x]` and `P[x + 2r + 2]`. The prefix sum is one add per sample; the
    /// output loop has no dependencies between samples and vectorises.
    static func horizontal(_ image: Image, radius: Int, weights: Weights) -> Image {
        let ch = image.channels
        let w = image.width
        let rowBytes = w * ch
        let side = (radius + 1) * ch
        let paddedBytes = rowBytes + 2 * side
        let reach = (2 * radius + 2) * ch
        return Image.build(width: w, height: image.height, channels: ch) { dst in
            image.pixels.withUnsafeBufferPointer { srcBuffer in
                let src = srcBuffer.baseAddress!
                Parallel.forEachBand(count: image.height, costPerItem: rowBytes * 2) { band in
                    let padded = UnsafeMutablePointer<UInt8>.allocate(capacity: paddedBytes)
                    let sums = UnsafeMutablePointer<UInt32>.allocate(capacity: paddedBytes + ch)
                    defer { padded.deallocate(); sums.deallocate() }
                    for y in band {
                        let line = src + y * rowBytes
                        for c in 0..<ch {
                            let first = line[c]
                            let last = line[rowBytes - ch + c]
                            var i = c
                            while i < side {
                                padded[i] = first
                                padded[side + rowBytes + i] = last
                                i &+= ch
                            }
                            sums[c] = 0
                        }
                        (padded + side).update(from: line, count: rowBytes)
                        var j = 0
                        while j < paddedBytes {
                            sums[j &+ ch] = sums[j] &+ UInt32(padded[j])
                            j &+= 1
                        }
                        let high = UnsafePointer(sums + reach)
                        let low = UnsafePointer(sums + ch)
                        let outer = UnsafePointer(padded + reach)
                        let target = dst + y * rowBytes
                        for k in 0..<rowBytes {
                            target[k] = weights.apply(high[k] &- low[k], UInt32(padded[k]) &+ UInt32(outer[k]))
                        }
                    }
                }
            }
        }
    }

    /// Blurs every column, a strip of columns at a time: the running sums of
    /// a whole strip advance together row by row, which vectorises.
    static func vertical(_ image: Image, radius: Int, weights: Weights) -> Image {
        let h = image.height
        let last = h - 1
        let rowBytes = image.width * image.channels
        let inside = min(radius, h)
        let tailCopies = UInt32(truncatingIfNeeded: radius - inside)
        let strip = 1024
        let strips = (rowBytes + strip - 1) / strip
        return Image.build(width: image.width, height: h, channels: image.channels) { dst in
            image.pixels.withUnsafeBufferPointer { srcBuffer in
                let src = srcBuffer.baseAddress!
                Parallel.forEachBand(count: strips, costPerItem: strip * h * 2) { band in
                    let acc = UnsafeMutablePointer<UInt32>.allocate(capacity: strip)
                    defer { acc.deallocate() }
                    for s in band {
                        let lo = s * strip
                        let n = min(strip, rowBytes - lo)
                        let first = src + lo
                        for j in 0..<n { acc[j] = UInt32(first[j]) &* UInt32(truncatingIfNeeded: radius + 1) }
                        for i in 0..<inside {
                            let line = src + i * rowBytes + lo
                            for j in 0..<n { acc[j] &+= UInt32(line[j]) }
                        }
                        let lastLine = src + last * rowBytes + lo
                        for j in 0..<n { acc[j] &+= UInt32(lastLine[j]) &* tailCopies }
                        for y in 0..<h {
                            let enter = src + min(y + radius, last) * rowBytes + lo
                            let leave = src + max(y - radius - 1, 0) * rowBytes + lo
                            let beyond = src + min(y + radius + 1, last) * rowBytes + lo
                            let target = dst + y * rowBytes + lo
                            for j in 0..<n {
                                let a = acc[j] &+ UInt32(enter[j]) &- UInt32(leave[j])
                                acc[j] = a
                                target[j] = weights.apply(a, UInt32(leave[j]) &+ UInt32(beyond[j]))
                            }
                        }
                    }
                }
            }
        }
    }
}
