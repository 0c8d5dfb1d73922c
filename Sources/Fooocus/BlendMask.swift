import Imaging

/// Fooocus's soft blend mask (`morphological_open` in
/// `modules/inpaint_worker.py`, docs/fooocus.md §3.3 step 8) — despite its name a
/// feathered dilation of the mask.
public enum BlendMask {
    /// Distances at or beyond this many pixels give 0.
    static let reach = 32

    /// The feathered mask: `clamp(256 − 8·d, 0, 255)` with `d` the Chebyshev
    /// (8-connected) distance to the nearest sample > 127 — 255 inside, 248 at
    /// d = 1, …, 8 at d = 31, 0 from d = 32 on. This is the closed form of
    /// Fooocus's loop `v = 256·(m > 127)`, 32 times `v = max(v, dilate3×3(v) − 8)`,
    /// clipped to uint8.
    ///
    /// Computed separably: per row the distance along the row (capped at 32),
    /// then per output row the minimum over rows `y ± k` (k < 32) of
    /// `max(k, row distance)`; both row-parallel.
    ///
    /// - Precondition: `mask` has one channel.
    public static func feathered(mask: Image) -> Image {
        precondition(mask.channels == 1, "blend mask needs a one-channel mask")
        let width = mask.width
        let height = mask.height
        let cap = UInt8(reach)
        var along = [UInt8](repeating: cap, count: width * height)
        var rowHasMask = [Bool](repeating: false, count: height)
        var out = [UInt8](repeating: 0, count: width * height)
        guard width > 0, height > 0 else { return mask }
        mask.pixels.withUnsafeBufferPointer { m in
            along.withUnsafeMutableBufferPointer { a in
                rowHasMask.withUnsafeMutableBufferPointer { flags in
                    let src = m.baseAddress!
                    let dst = SharedPointer(base: a.baseAddress!)
                    let has = SharedPointer(base: flags.baseAddress!)
                    Bands.forEach(count: height, costPerItem: 2 * width) { rows in
                        for y in rows {
                            has.base[y] = rowDistances(src + y * width, dst.base + y * width, width: width, cap: cap)
                        }
                    }
                }
            }
        }
        along.withUnsafeBufferPointer { a in
            out.withUnsafeMutableBufferPointer { o in
                let dst = SharedPointer(base: o.baseAddress!)
                Bands.forEach(count: height, costPerItem: reach * width) { rows in
                    var best = [UInt8](repeating: cap, count: width)
                    best.withUnsafeMutableBufferPointer { best in
                        for y in rows {
                            columnCombine(a.baseAddress!, rowHasMask, y: y, width: width, height: height,
                                          best: best.baseAddress!, output: dst.base + y * width)
                        }
                    }
                }
            }
        }
        return Image(width: width, height: height, channels: 1, pixels: out)
    }

    /// Distance along the row to the nearest sample > 127, capped at `cap`;
    /// returns whether the row has any such sample.
    static func rowDistances(_ m: UnsafePointer<UInt8>, _ d: UnsafeMutablePointer<UInt8>,
                             width: Int, cap: UInt8) -> Bool {
        var run = cap
        var any = false
        for x in 0..<width {
            if m[x] > 127 { run = 0; any = true } else if run < cap { run += 1 }
            d[x] = run
        }
        guard any else { return false }
        run = cap
        for x in stride(from: width - 1, through: 0, by: -1) {
            if m[x] > 127 { run = 0 } else if run < cap { run += 1 }
            d[x] = min(d[x], run)
        }
        return true
    }

    /// Output row `y`: `d = min_k max(k, along[y ± k])` over `k < 32`, then
    /// `clamp(256 − 8·d, 0, 255)` (0 for d ≥ 32).
    static func columnCombine(_ along: UnsafePointer<UInt8>, _ rowHasMask: [Bool], y: Int, width: Int,
                              height: Int, best: UnsafeMutablePointer<UInt8>, output: UnsafeMutablePointer<UInt8>) {
        let cap = UInt8(reach)
        var touched = false
        func merge(row yy: Int, k: Int) {
            guard yy >= 0 && yy < height && rowHasMask[yy] else { return }
            let row = along + yy * width
            if !touched {
                for x in 0..<width { best[x] = cap }
                touched = true
            }
            let floor = UInt8(k)
            for x in 0..<width { best[x] = min(best[x], max(floor, row[x])) }
        }
        for k in 0..<reach {
            merge(row: y - k, k: k)
            if k > 0 { merge(row: y + k, k: k) }
        }
        guard touched else {
            for x in 0..<width { output[x] = 0 }
            return
        }
        for x in 0..<width {
            let d = Int(best[x])
            output[x] = d >= reach ? 0 : UInt8(min(255, 256 - 8 * d))
        }
    }
}
