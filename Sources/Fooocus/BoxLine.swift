/// The two line kernels of Pillow's box blur as ``InpaintFill`` runs them:
/// a horizontal pass over part of a row and a vertical pass down a strip of
/// columns that writes only selected samples. See
/// ``InpaintFill/blurPass(_:scratch:layout:spans:radius:)`` for the formula.
enum BoxLine {
    /// Blurs pixels `lo...hi` of one row of `width` pixels into `output`
    /// (same layout as `row`). `line` is scratch for at least
    /// `hi − lo + 2r + 3` pixels: the row with edge replication around it.
    static func horizontal(row: UnsafeMutablePointer<UInt8>, width: Int, channels: Int, lo: Int, hi: Int,
                           weights: BlurWeights, line: UnsafeMutablePointer<UInt8>,
                           output: UnsafeMutablePointer<UInt8>) {
        let r = weights.radius
        let ch = channels
        let start = lo - r - 1
        let count = hi - lo + 2 * r + 3
        // line[j] = row[clamp(start + j)]
        let left = min(count, max(0, -start))
        for j in 0..<left { for c in 0..<ch { line[j * ch + c] = row[c] } }
        let midFirst = max(start, 0)
        let midLast = min(start + count - 1, width - 1)
        if midFirst <= midLast {
            (line + left * ch).update(from: row + midFirst * ch, count: (midLast - midFirst + 1) * ch)
        }
        let lastPixel = row + (width - 1) * ch
        for j in max(left, midLast - start + 1)..<count { for c in 0..<ch { line[j * ch + c] = lastPixel[c] } }

        let ww = weights.ww
        let fw = weights.fw
        let span = 2 * r + 2
        let out = output + lo * ch
        let n = hi - lo + 1
        if ch == 3 {
            var a0: UInt32 = 0, a1: UInt32 = 0, a2: UInt32 = 0
            for j in 1...(2 * r + 1) {
                a0 &+= UInt32(line[j * 3]); a1 &+= UInt32(line[j * 3 + 1]); a2 &+= UInt32(line[j * 3 + 2])
            }
            var p = UnsafePointer(line)
            var o = out
            for _ in 0..<n {
                let far = p + span * 3
                let f0 = UInt32(far[0]), f1 = UInt32(far[1]), f2 = UInt32(far[2])
                o[0] = UInt8(truncatingIfNeeded: (a0 &* ww &+ (UInt32(p[0]) &+ f0) &* fw &+ 0x80_0000) >> 24)
                o[1] = UInt8(truncatingIfNeeded: (a1 &* ww &+ (UInt32(p[1]) &+ f1) &* fw &+ 0x80_0000) >> 24)
                o[2] = UInt8(truncatingIfNeeded: (a2 &* ww &+ (UInt32(p[2]) &+ f2) &* fw &+ 0x80_0000) >> 24)
                a0 = a0 &+ f0 &- UInt32(p[3])
                a1 = a1 &+ f1 &- UInt32(p[4])
                a2 = a2 &+ f2 &- UInt32(p[5])
                p += 3
                o += 3
            }
            return
        }
        for c in 0..<ch {
            var acc: UInt32 = 0
            for j in 1...(2 * r + 1) { acc &+= UInt32(line[j * ch + c]) }
            for q in 0..<n {
                let near = UInt32(line[q * ch + c])
                let far = UInt32(line[(q + span) * ch + c])
                out[q * ch + c] = UInt8(truncatingIfNeeded: (acc &* ww &+ (near &+ far) &* fw &+ 0x80_0000) >> 24)
                acc = acc &+ far &- UInt32(line[(q + 1) * ch + c])
            }
        }
    }

    /// Blurs `count` adjacent columns (samples) of a `height`-row image
    /// vertically, for output rows `rows`, writing the result into `output`
    /// only where `select` is 0xFF. `source` is the horizontal intermediate;
    /// `acc` is scratch for `count` sums.
    static func vertical(source: UnsafePointer<UInt8>, select: UnsafePointer<UInt8>,
                         output: UnsafeMutablePointer<UInt8>, stride: Int, count: Int, height: Int,
                         rows: ClosedRange<Int>, weights: BlurWeights, acc: UnsafeMutablePointer<UInt32>) {
        let r = weights.radius
        let last = height - 1
        @inline(__always) func row(_ i: Int) -> UnsafePointer<UInt8> { source + min(max(i, 0), last) * stride }
        // acc = Σ rows[clamp(first−r … first+r)], clamped rows by multiplicity.
        let first = rows.lowerBound
        let below = UInt32(max(0, r - first))
        let above = UInt32(max(0, first + r - last))
        let top = row(0), bottom = row(last)
        for j in 0..<count { acc[j] = UInt32(top[j]) &* below &+ UInt32(bottom[j]) &* above }
        for i in max(0, first - r)...min(last, first + r) {
            let p = row(i)
            for j in 0..<count { acc[j] &+= UInt32(p[j]) }
        }
        let ww = weights.ww
        let fw = weights.fw
        for y in rows {
            let near = row(y - r - 1)
            let far = row(y + r + 1)
            let leaving = row(y - r)
            let sel = select + y * stride
            let out = output + y * stride
            for j in 0..<count {
                let f = UInt32(far[j])
                let v = UInt8(truncatingIfNeeded: (acc[j] &* ww &+ (UInt32(near[j]) &+ f) &* fw &+ 0x80_0000) >> 24)
                let m = sel[j]
                out[j] = (v & m) | (out[j] & ~m)
                acc[j] = acc[j] &+ f &- UInt32(leaving[j])
            }
        }
    }
}
