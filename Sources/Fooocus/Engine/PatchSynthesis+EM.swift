import Dispatch
import Imaging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The EM steps of ``PatchSynthesis``: patch distances, field initialisation and
// upsampling, PatchMatch sweeps and voting.
extension PatchSynthesis {
    // MARK: - Distances

    /// Sum of squared differences between the patches at target pixel `q` and
    /// source pixel `s` (the target's window clipped to the image), stopping
    /// early once it reaches `limit`.
    @inline(__always)
    static func patchDistance(_ img: UnsafePointer<SIMD4<Float>>, width w: Int, height h: Int, radius r: Int,
                              target q: Int, source s: Int, limit: Float) -> Float {
        let qy = q / w, qx = q - qy * w
        let x0 = max(-r, -qx), x1 = min(r, w - 1 - qx)
        let y0 = max(-r, -qy), y1 = min(r, h - 1 - qy)
        var sum: Float = 0
        var dy = y0
        while dy <= y1 {
            let t = img + (q + dy * w)
            let u = img + (s + dy * w)
            var acc = SIMD4<Float>.zero
            var dx = x0
            while dx <= x1 {
                let d = t[dx] - u[dx]
                acc += d * d
                dx += 1
            }
            sum += acc.sum()
            if sum >= limit { return sum }
            dy += 1
        }
        return sum
    }

    /// Number of pixels in target `q`'s clipped window.
    @inline(__always)
    static func windowArea(width w: Int, height h: Int, radius r: Int, target q: Int) -> Int {
        let qy = q / w, qx = q - qy * w
        return (min(r, w - 1 - qx) - max(-r, -qx) + 1) * (min(r, h - 1 - qy) - max(-r, -qy) + 1)
    }

    func computeDistances(_ level: Level) {
        let (w, h, r) = (level.width, level.height, level.radius)
        level.pixels.withUnsafeBufferPointer { img in
            level.targets.withUnsafeBufferPointer { targets in
                level.field.withUnsafeBufferPointer { field in
                    level.distance.withUnsafeMutableBufferPointer { dist in
                        let out = SharedPointer(base: dist.baseAddress!)
                        let (i, t, f) = (img.baseAddress!, targets.baseAddress!, field.baseAddress!)
                        forEachChunk(targets.count) { range in
                            for k in range {
                                out.base[k] = Self.patchDistance(i, width: w, height: h, radius: r,
                                                                 target: Int(t[k]), source: Int(f[k]),
                                                                 limit: .infinity)
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: - Fields

    /// A field of uniformly drawn valid sources.
    func randomField(_ level: Level, salt: Int) {
        let n = level.targets.count
        level.field = [Int32](repeating: 0, count: n)
        level.distance = [Float](repeating: .infinity, count: n)
        let sources = level.validList
        for band in 0..<(level.bands.count - 1) {
            var rng = SplitMix64.derived(seed, 1, salt, band)
            for k in level.bands[band]..<level.bands[band + 1] {
                level.field[k] = sources[rng.below(sources.count)]
            }
        }
    }

    /// The coarser level's field, scaled up: target (x, y) takes the coarse
    /// match of (x/2, y/2) shifted by its own offset within the 2×2 block.
    func upsampleField(from coarse: Level, to fine: Level, salt: Int) {
        let n = fine.targets.count
        fine.field = [Int32](repeating: 0, count: n)
        fine.distance = [Float](repeating: .infinity, count: n)
        let (w, h, r) = (fine.width, fine.height, fine.radius)
        let cw = coarse.width, ch = coarse.height
        let sources = fine.validList
        for band in 0..<(fine.bands.count - 1) {
            var rng = SplitMix64.derived(seed, 2, salt, band)
            for k in fine.bands[band]..<fine.bands[band + 1] {
                let q = Int(fine.targets[k])
                let y = q / w, x = q - y * w
                let cx = min(x / 2, cw - 1), cy = min(y / 2, ch - 1)
                let ct = Int(coarse.targetOf[cy * cw + cx])
                var chosen = -1
                if ct >= 0 {
                    let s = Int(coarse.field[ct])
                    let sy = s / cw, sx = s - sy * cw
                    let fx = min(max(2 * sx + (x - 2 * cx), r), w - 1 - r)
                    let fy = min(max(2 * sy + (y - 2 * cy), r), h - 1 - r)
                    if fx >= 0 && fy >= 0 && fx < w && fy < h && fine.valid[fy * w + fx] != 0 { chosen = fy * w + fx }
                }
                if chosen < 0 { chosen = Int(sources[rng.below(sources.count)]) }
                fine.field[k] = Int32(chosen)
            }
        }
    }

    /// One PatchMatch sweep over every band: propagation from the two
    /// neighbours already visited, then random search around the best match.
    func patchMatch(_ level: Level, salt: (Int, Int, Int), backward: Bool) {
        let (w, h, r) = (level.width, level.height, level.radius)
        let n = w * h
        let previous = level.field
        let bandBounds = level.bands
        let maxRadius = max(w, h)
        let seed = self.seed
        level.pixels.withUnsafeBufferPointer { img in
            level.targets.withUnsafeBufferPointer { targets in
                level.targetOf.withUnsafeBufferPointer { targetOf in
                    level.valid.withUnsafeBufferPointer { valid in
                        level.validList.withUnsafeBufferPointer { sources in
                            previous.withUnsafeBufferPointer { prev in
                                level.field.withUnsafeMutableBufferPointer { fieldBuffer in
                                    level.distance.withUnsafeMutableBufferPointer { distBuffer in
                                        let field = SharedPointer(base: fieldBuffer.baseAddress!)
                                        let dist = SharedPointer(base: distBuffer.baseAddress!)
                                        let (i, tg, to, va, so, pv) = (img.baseAddress!, targets.baseAddress!,
                                                                       targetOf.baseAddress!, valid.baseAddress!,
                                                                       sources.baseAddress!, prev.baseAddress!)
                                        let sourceCount = sources.count
                                        forEachBand(bandBounds.count - 1) { band in
                                            let lo = bandBounds[band], hi = bandBounds[band + 1]
                                            var rng = SplitMix64.derived(seed, 3, salt.0, salt.1, salt.2, band)
                                            var k = backward ? hi - 1 : lo
                                            let step = backward ? -1 : 1
                                            let offsets = backward ? (1, w) : (-1, -w)
                                            while k >= lo && k < hi {
                                                let q = Int(tg[k])
                                                let qy = q / w, qx = q - qy * w
                                                var best = dist.base[k]
                                                var bestSource = Int(field.base[k])

                                                @inline(__always) func consider(_ s: Int) {
                                                    if s < 0 || s >= n || va[s] == 0 || s == bestSource { return }
                                                    let d = Self.patchDistance(i, width: w, height: h, radius: r,
                                                                               target: q, source: s, limit: best)
                                                    if d < best { best = d; bestSource = s }
                                                }

                                                // Propagation.
                                                for which in 0..<2 {
                                                    let o = which == 0 ? offsets.0 : offsets.1
                                                    if o == -1 && qx == 0 { continue }
                                                    if o == 1 && qx == w - 1 { continue }
                                                    if o == -w && qy == 0 { continue }
                                                    if o == w && qy == h - 1 { continue }
                                                    let neighbour = Int(to[q + o])
                                                    if neighbour < 0 { continue }
                                                    let inBand = backward ? neighbour < hi : neighbour >= lo
                                                    let match = inBand ? Int(field.base[neighbour]) : Int(pv[neighbour])
                                                    consider(match - o)
                                                }

                                                // Random search: one anywhere, then in shrinking windows.
                                                consider(Int(so[rng.below(sourceCount)]))
                                                var radius = maxRadius / 2
                                                while radius >= 1 {
                                                    let by = bestSource / w, bx = bestSource - by * w
                                                    let xl = max(r, bx - radius), xh = min(w - 1 - r, bx + radius)
                                                    let yl = max(r, by - radius), yh = min(h - 1 - r, by + radius)
                                                    if xl <= xh && yl <= yh {
                                                        let sx = xl + rng.below(xh - xl + 1)
                                                        let sy = yl + rng.below(yh - yl + 1)
                                                        consider(sy * w + sx)
                                                    }
                                                    radius /= 2
                                                }
                                                field.base[k] = Int32(bestSource)
                                                dist.base[k] = best
                                                k += step
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: - Voting

    /// Sets every hole pixel to the weighted mean of what the patches covering
    /// it propose (with `sharp`, to the proposal of the best of them). Reads
    /// only known pixels (source windows are wholly known), so it writes in place.
    func vote(_ level: Level, weighted: Bool, sharp: Bool = false) {
        let (w, h, r) = (level.width, level.height, level.radius)
        let targetCount = level.targets.count
        var weights = [Float](repeating: 1, count: targetCount)
        if weighted {
            // Per-pixel distance, scaled by a robust spread of all of them.
            var perPixel = [Float](repeating: 0, count: targetCount)
            for k in 0..<targetCount {
                perPixel[k] = level.distance[k]
                    / Float(Self.windowArea(width: w, height: h, radius: r, target: Int(level.targets[k])))
            }
            let stride = max(1, targetCount / 4096)
            var sample = Swift.stride(from: 0, to: targetCount, by: stride).map { perPixel[$0] }
            sample.sort()
            let scale = max(sample[min(sample.count - 1, sample.count * 3 / 4)], 1) * options.weightScale
            for k in 0..<targetCount { weights[k] = expf(-perPixel[k] / (2 * scale)) + 1e-6 }
        }
        level.pixels.withUnsafeMutableBufferPointer { imgBuffer in
            level.hole.withUnsafeBufferPointer { hole in
                level.targetOf.withUnsafeBufferPointer { targetOf in
                    level.field.withUnsafeBufferPointer { field in
                        weights.withUnsafeBufferPointer { weight in
                            let img = SharedPointer(base: imgBuffer.baseAddress!)
                            let (ho, to, f, wt) = (hole.baseAddress!, targetOf.baseAddress!, field.baseAddress!,
                                                   weight.baseAddress!)
                            forEachChunk(h) { rows in
                                for py in rows {
                                    for px in 0..<w where ho[py * w + px] != 0 {
                                        var acc = SIMD4<Float>.zero
                                        var total: Float = 0
                                        var top: Float = -1
                                        var topValue = SIMD4<Float>.zero
                                        for dy in max(-r, -py)...min(r, h - 1 - py) {
                                            for dx in max(-r, -px)...min(r, w - 1 - px) {
                                                let q = (py + dy) * w + px + dx
                                                let t = Int(to[q])
                                                let s = Int(f[t]) - dy * w - dx
                                                acc += wt[t] * img.base[s]
                                                total += wt[t]
                                                if wt[t] > top { top = wt[t]; topValue = img.base[s] }
                                            }
                                        }
                                        img.base[py * w + px] = sharp ? topValue : acc / total
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
