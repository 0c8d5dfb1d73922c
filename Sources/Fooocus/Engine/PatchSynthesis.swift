import Dispatch
import Foundation
let debugDirectory = ProcessInfo.processInfo.environment["GANTRY_ENGINE_DEBUG"]
import Imaging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SplitMix64: the engine's only source of randomness (no system generator),
/// so a seed fixes the result.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<n` (n > 0), by a 32×32-bit multiply (bias below 2⁻³²·n).
    @inline(__always)
    mutating func below(_ n: Int) -> Int {
        Int(((next() >> 32) &* UInt64(UInt32(truncatingIfNeeded: n))) >> 32)
    }

    /// A generator for one unit of work, derived from the seed and the unit's coordinates.
    static func derived(_ seed: UInt64, _ parts: Int...) -> SplitMix64 {
        var mixer = SplitMix64(seed: seed)
        var state = mixer.next()
        for part in parts {
            mixer = SplitMix64(seed: state ^ UInt64(bitPattern: Int64(part)) &* 0xD6E8_FEB8_6659_FD93)
            state = mixer.next()
        }
        return SplitMix64(seed: state)
    }
}

/// Content-aware fill by multi-scale patch-based synthesis: PatchMatch
/// nearest-neighbour fields (propagation + random search) and weighted voting,
/// coarse to fine, in the spirit of Wexler et al. (2007) and Barnes et al. (2009).
///
/// Source patches are drawn only from windows that lie entirely in the known
/// region and in the image. Determinism: all randomness comes from generators
/// derived from the seed and fixed work units (level, iteration, band); the
/// targets are cut into bands that depend only on the data, each band sweeps
/// its own targets in order (reading its neighbours outside the band from the
/// previous iteration's field), and voting computes each pixel on its own — so
/// the result does not depend on the number of threads or their scheduling.
struct PatchSynthesis {
    struct Options: Sendable {
        /// Patch radius (7×7 patches); smaller only where no 7×7 source exists.
        var patchRadius = 3
        /// Stop building coarser levels below this short side.
        var coarsestShortSide = 32
        /// Minimum number of valid source patches for a coarser level to be used.
        var minimumSources = 64
        /// EM iterations at the coarsest and at the finest level (linear in between).
        var emCoarsest = 6
        var emFinest = 2
        /// PatchMatch sweeps per EM iteration at the coarsest and finest level.
        var pmCoarsest = 2
        var pmFinest = 1
        /// Run bands concurrently (false runs them in order on the calling thread; same result).
        var parallel = true
        /// Upper bound on target bands per level (fixed, not the core count).
        var maximumBands = 16
        /// Weight of the texture feature (local mean gradient magnitude, lane 3) against colour; 0 turns it off.
        var textureWeight: Float = 2
        /// Side of the window the texture feature averages over.
        var textureWindow = 5
        /// Initialise the coarsest level by filling the hole layer by layer from its
        /// boundary (each pixel copied from the source patch best matching what is
        /// already filled, the initial fill counting `priorWeight` as much).
        var onionPeel = true
        var priorWeight: Float = 0.1
        /// Weight of the structure (data) term in the initialisation's fill order.
        var dataWeight: Float = 1
        /// Most (hole pixel, source) pairs the peel may compare exhaustively.
        var peelBudget = 4_000_000
        /// How much the hole's voted texture (lane 3) counts against its prior from the surroundings.
        var textureVoteMix: Float = 1
        /// Voting weights exp(−d / (2·s)) with s the given percentile of the patch distances times `weightScale`.
        var weightPercentile: Float = 0.75
        var weightScale: Float = 1
        /// Penalty per pixel of distance between target and source, relative to the image size (0 = none).
        var locality: Float = 0
    }

    /// One level of the pyramid.
    final class Level {
        let width: Int
        let height: Int
        /// Current estimate, RGB in lanes 0...2 (lane 3 is 0).
        var pixels: [SIMD4<Float>]
        /// 1 where the pixel is to be synthesised.
        var hole: [UInt8]
        var radius = 3
        /// Pixel indices of the targets (patch centres whose window meets the hole), in scan order.
        var targets: [Int32] = []
        /// Pixel → target index, or −1.
        var targetOf: [Int32] = []
        /// 1 where a source window fits: inside the image and wholly known.
        var valid: [UInt8] = []
        var validList: [Int32] = []
        /// Nearest-neighbour field per target: source pixel index, and its patch distance.
        var field: [Int32] = []
        var distance: [Float] = []
        /// Target bands: target index bounds (bands + 1 entries).
        var bands: [Int] = []
        /// The texture the hole should have (lane 3), from its surroundings; empty when unused.
        var texturePrior: [Float] = []

        init(width: Int, height: Int, pixels: [SIMD4<Float>], hole: [UInt8]) {
            self.width = width
            self.height = height
            self.pixels = pixels
            self.hole = hole
        }

        var holeCount: Int { hole.reduce(0) { $0 + Int($1) } }

        /// Marks targets and valid sources for patch radius `r`; returns the number of valid sources.
        @discardableResult
        func layout(radius r: Int) -> Int {
            radius = r
            let (w, h) = (width, height)
            // Square dilation of the hole by r, separably.
            var rows = [UInt8](repeating: 0, count: w * h)
            for y in 0..<h {
                var last = -1_000_000
                // Forward pass: distance to last hole on the left; backward: on the right.
                for x in 0..<w {
                    if hole[y * w + x] != 0 { last = x }
                    if x - last <= r { rows[y * w + x] = 1 }
                }
                last = 1_000_000
                for x in stride(from: w - 1, through: 0, by: -1) {
                    if hole[y * w + x] != 0 { last = x }
                    if last - x <= r { rows[y * w + x] = 1 }
                }
            }
            var dilated = [UInt8](repeating: 0, count: w * h)
            for x in 0..<w {
                var last = -1_000_000
                for y in 0..<h {
                    if rows[y * w + x] != 0 { last = y }
                    if y - last <= r { dilated[y * w + x] = 1 }
                }
                last = 1_000_000
                for y in stride(from: h - 1, through: 0, by: -1) {
                    if rows[y * w + x] != 0 { last = y }
                    if last - y <= r { dilated[y * w + x] = 1 }
                }
            }
            targets.removeAll(keepingCapacity: true)
            targetOf = [Int32](repeating: -1, count: w * h)
            valid = [UInt8](repeating: 0, count: w * h)
            validList.removeAll(keepingCapacity: true)
            for y in 0..<h {
                for x in 0..<w {
                    let p = y * w + x
                    if dilated[p] != 0 {
                        targetOf[p] = Int32(targets.count)
                        targets.append(Int32(p))
                    } else if x >= r && x < w - r && y >= r && y < h - r {
                        valid[p] = 1
                        validList.append(Int32(p))
                    }
                }
            }
            return validList.count
        }

        /// Cuts the targets into at most `maximum` bands of about equal size.
        func makeBands(maximum: Int) {
            let n = targets.count
            let count = max(1, min(maximum, n / 256))
            bands = (0...count).map { n * $0 / count }
        }

        /// Lane 3 of the known pixels: `weight` × the mean over a `window`² box of the
        /// luminance gradient magnitude (|∂x| + |∂y|, central differences), using
        /// known pixels only, so nothing under the hole leaks in.
        func computeTexture(weight: Float, window: Int) {
            let (w, h) = (width, height)
            var lum = [Float](repeating: 0, count: w * h)
            for p in 0..<(w * h) {
                let v = pixels[p]
                lum[p] = 0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2]
            }
            var grad = [Float](repeating: 0, count: w * h)
            for y in 0..<h {
                for x in 0..<w where hole[y * w + x] == 0 {
                    let p = y * w + x
                    let l = x > 0 && hole[p - 1] == 0 ? p - 1 : p
                    let r = x < w - 1 && hole[p + 1] == 0 ? p + 1 : p
                    let u = y > 0 && hole[p - w] == 0 ? p - w : p
                    let d = y < h - 1 && hole[p + w] == 0 ? p + w : p
                    let gx = r - l > 0 ? abs(lum[r] - lum[l]) / Float(r - l) : 0
                    let gy = d - u > 0 ? abs(lum[d] - lum[u]) / Float((d - u) / w) : 0
                    grad[p] = gx + gy
                }
            }
            // Masked box mean through summed-area tables of values and counts.
            let sw = w + 1
            var sum = [Float](repeating: 0, count: sw * (h + 1))
            var cnt = [Float](repeating: 0, count: sw * (h + 1))
            for y in 0..<h {
                var rowSum: Float = 0, rowCount: Float = 0
                for x in 0..<w {
                    if hole[y * w + x] == 0 { rowSum += grad[y * w + x]; rowCount += 1 }
                    sum[(y + 1) * sw + x + 1] = sum[y * sw + x + 1] + rowSum
                    cnt[(y + 1) * sw + x + 1] = cnt[y * sw + x + 1] + rowCount
                }
            }
            let half = window / 2
            for y in 0..<h {
                let y0 = max(0, y - half), y1 = min(h, y + half + 1)
                for x in 0..<w where hole[y * w + x] == 0 {
                    let x0 = max(0, x - half), x1 = min(w, x + half + 1)
                    let s = sum[y1 * sw + x1] - sum[y0 * sw + x1] - sum[y1 * sw + x0] + sum[y0 * sw + x0]
                    let n = cnt[y1 * sw + x1] - cnt[y0 * sw + x1] - cnt[y1 * sw + x0] + cnt[y0 * sw + x0]
                    pixels[y * w + x][3] = n > 0 ? weight * s / n : 0
                }
            }
        }

        /// Fills lane 3 of the hole by harmonic interpolation of its known surroundings (Jacobi sweeps).
        func diffuseTexture() {
            let (w, h) = (width, height)
            var value = pixels.map { $0[3] }
            let holes = (0..<(w * h)).filter { hole[$0] != 0 }
            var known: [Float] = []
            for p in 0..<(w * h) where hole[p] == 0 { known.append(value[p]) }
            let mean = known.isEmpty ? 0 : known.reduce(0, +) / Float(known.count)
            for p in holes { value[p] = mean }
            var next = value
            for _ in 0..<max(64, 2 * max(w, h)) {
                for p in holes {
                    let y = p / w, x = p - y * w
                    var s: Float = 0, n: Float = 0
                    if x > 0 { s += value[p - 1]; n += 1 }
                    if x < w - 1 { s += value[p + 1]; n += 1 }
                    if y > 0 { s += value[p - w]; n += 1 }
                    if y < h - 1 { s += value[p + w]; n += 1 }
                    next[p] = s / n
                }
                swap(&value, &next)
            }
            for p in holes { pixels[p][3] = value[p] }
            texturePrior = value
        }

        /// A coarser level: 2×2 means of known pixels; a coarse pixel is a hole if any child is.
        func downsampled() -> Level {
            let (w, h) = (width, height)
            let (cw, ch) = ((w + 1) / 2, (h + 1) / 2)
            var out = [SIMD4<Float>](repeating: .zero, count: cw * ch)
            var outHole = [UInt8](repeating: 0, count: cw * ch)
            for cy in 0..<ch {
                for cx in 0..<cw {
                    var sum = SIMD4<Float>.zero
                    var n: Float = 0
                    var isHole: UInt8 = 0
                    for y in (2 * cy)..<min(2 * cy + 2, h) {
                        for x in (2 * cx)..<min(2 * cx + 2, w) {
                            sum += pixels[y * w + x]
                            n += 1
                            isHole |= hole[y * w + x]
                        }
                    }
                    out[cy * cw + cx] = sum / n
                    outHole[cy * cw + cx] = isHole
                }
            }
            return Level(width: cw, height: ch, pixels: out, hole: outHole)
        }
    }

    let options: Options
    let seed: UInt64

    init(options: Options, seed: UInt64) {
        var o = options
        let env = ProcessInfo.processInfo.environment
        if let v = env["GE_TW"], let f = Float(v) { o.textureWeight = f }
        if let v = env["GE_TWIN"], let f = Int(v) { o.textureWindow = f }
        if let v = env["GE_EMC"], let f = Int(v) { o.emCoarsest = f }
        if let v = env["GE_EMF"], let f = Int(v) { o.emFinest = f }
        if let v = env["GE_PMC"], let f = Int(v) { o.pmCoarsest = f }
        if let v = env["GE_PMF"], let f = Int(v) { o.pmFinest = f }
        if let v = env["GE_CS"], let f = Int(v) { o.coarsestShortSide = f }
        if let v = env["GE_PEEL"], let f = Int(v) { o.onionPeel = f != 0 }
        if let v = env["GE_PRIOR"], let f = Float(v) { o.priorWeight = f }
        if let v = env["GE_MIX"], let f = Float(v) { o.textureVoteMix = f }
        if let v = env["GE_PCT"], let f = Float(v) { o.weightPercentile = f }
        if let v = env["GE_WS"], let f = Float(v) { o.weightScale = f }
        if let v = env["GE_DATA"], let f = Float(v) { o.dataWeight = f }
        if let v = env["GE_BUDGET"], let f = Int(v) { o.peelBudget = f }
        if let v = env["GE_LOC"], let f = Float(v) { o.locality = f }
        self.options = o
        self.seed = seed
    }

    /// Fills the pixels of `image` (3 channels) where `hole` is non-zero, starting
    /// from `initial` (3 channels, any size: it is resized to the coarsest level).
    /// Known pixels are returned unchanged.
    func synthesize(image: Image, hole: [UInt8], initial: Image,
                    progress: @escaping @Sendable (Double) async -> Void) async throws -> Image {
        precondition(image.channels == 3 && initial.channels == 3, "RGB images expected")
        precondition(hole.count == image.width * image.height, "hole mask must match the image")
        let (w, h) = (image.width, image.height)
        guard hole.contains(where: { $0 != 0 }) else {
            await progress(1)
            return image
        }

        // Level 0 at the image's own resolution.
        var base = [SIMD4<Float>](repeating: .zero, count: w * h)
        image.pixels.withUnsafeBufferPointer { src in
            for p in 0..<(w * h) {
                base[p] = SIMD4(Float(src[3 * p]), Float(src[3 * p + 1]), Float(src[3 * p + 2]), 0)
            }
        }
        let finest = Level(width: w, height: h, pixels: base, hole: hole)
        var radius = options.patchRadius
        while radius > 0 && finest.layout(radius: radius) == 0 { radius -= 1 }
        if radius == 0 && finest.layout(radius: 0) == 0 {
            // Nothing known to copy from: the initial fill is all there is.
            await progress(1)
            let resized = Resample.lanczos(initial, width: w, height: h)
            return Self.merge(image: image, hole: hole, synthesized: resized)
        }

        // The texture feature is measured at full resolution and averaged down the
        // pyramid, so coarse levels still tell fine texture (grass, mesh) from flat areas.
        if options.textureWeight > 0 {
            finest.computeTexture(weight: options.textureWeight, window: options.textureWindow)
        }
        var levels = [finest]
        while true {
            let top = levels[levels.count - 1]
            if min(top.width, top.height) / 2 < options.coarsestShortSide { break }
            let next = top.downsampled()
            if next.layout(radius: options.patchRadius) < options.minimumSources { break }
            levels.append(next)
        }


        // Work per EM iteration of each level, for progress.
        let count = levels.count
        func em(_ level: Int) -> Int {
            count == 1 ? options.emCoarsest
                : options.emFinest + (options.emCoarsest - options.emFinest) * level / (count - 1)
        }
        func pm(_ level: Int) -> Int {
            count == 1 ? options.pmCoarsest
                : options.pmFinest + (options.pmCoarsest - options.pmFinest) * level / (count - 1)
        }
        var total = 0.0
        for (index, level) in levels.enumerated() {
            total += Double(level.targets.count * em(index) * (pm(index) + 1))
        }
        var done = 0.0

        for index in stride(from: count - 1, through: 0, by: -1) {
            try Task.checkCancellation()
            let level = levels[index]
            level.makeBands(maximum: options.maximumBands)
            if index == count - 1 {
                // Coarsest: the initial fill in the hole, random field.
                let resized = Resample.lanczos(initial, width: level.width, height: level.height)
                resized.pixels.withUnsafeBufferPointer { src in
                    for p in 0..<(level.width * level.height) where level.hole[p] != 0 {
                        level.pixels[p] = SIMD4(Float(src[3 * p]), Float(src[3 * p + 1]), Float(src[3 * p + 2]), 0)
                    }
                }
                if options.textureWeight > 0 { level.diffuseTexture() }
                randomField(level, salt: index)
                if options.onionPeel { onionPeel(level, salt: index) }
            } else {
                upsampleField(from: levels[index + 1], to: level, salt: index)
                if options.textureWeight > 0 {
                    // The hole's texture prior, taken from the coarser level's.
                    let coarse = levels[index + 1]
                    level.texturePrior = [Float](repeating: 0, count: level.width * level.height)
                    for y in 0..<level.height {
                        for x in 0..<level.width where level.hole[y * level.width + x] != 0 {
                            let cx = min(x / 2, coarse.width - 1), cy = min(y / 2, coarse.height - 1)
                            level.texturePrior[y * level.width + x] = coarse.texturePrior[cy * coarse.width + cx]
                        }
                    }
                }
                vote(level, weighted: false)
            }
            for iteration in 0..<em(index) {
                try Task.checkCancellation()
                computeDistances(level)
                for sweep in 0..<pm(index) {
                    patchMatch(level, salt: [index, iteration, sweep], backward: sweep % 2 == 1)
                }
                vote(level, weighted: true)
                done += Double(level.targets.count * (pm(index) + 1))
                await progress(min(1, done / total) * 0.999)
            }
            if debugDirectory != nil {
                var zero = 0, bad = 0, holes = 0
                for p in 0..<(level.width * level.height) where level.hole[p] != 0 { holes += 1; if level.pixels[p][3] == 0 { zero += 1 } }
                for k in 0..<level.targets.count where level.valid[Int(level.field[k])] == 0 { bad += 1 }
                print("level \(index) \(level.width)x\(level.height) r=\(level.radius) holes \(holes) zero-lane3 \(zero) targets \(level.targets.count) bad-field \(bad) bands \(level.bands)")
            }
            if let dir = debugDirectory {
                var b = Self.bytes(level)
                if let data = try? ImageCodec.encode(b, as: .png) { try? data.write(to: URL(fileURLWithPath: "\(dir)/level\(index).png")) }
                for p in 0..<(level.width * level.height) { let t = min(255, max(0, level.pixels[p][3] * 2)); b.pixels[3*p] = UInt8(t); b.pixels[3*p+1] = UInt8(t); b.pixels[3*p+2] = UInt8(t) }
                if let data = try? ImageCodec.encode(b, as: .png) { try? data.write(to: URL(fileURLWithPath: "\(dir)/tex\(index).png")) }
                for p in 0..<(level.width * level.height) { b.pixels[3*p] = level.hole[p] * 255; b.pixels[3*p+1] = level.targetOf[p] >= 0 ? 255 : 0; b.pixels[3*p+2] = level.valid[p] * 255 }
                if let data = try? ImageCodec.encode(b, as: .png) { try? data.write(to: URL(fileURLWithPath: "\(dir)/hole\(index).png")) }
            }
        }
        try Task.checkCancellation()

        let synthesized = Self.bytes(finest)
        await progress(1)
        return Self.merge(image: image, hole: hole, synthesized: synthesized)
    }

    /// The level's estimate as RGB bytes (rounded, clamped).
    static func bytes(_ level: Level) -> Image {
        let n = level.width * level.height
        var out = [UInt8](repeating: 0, count: n * 3)
        level.pixels.withUnsafeBufferPointer { src in
            for p in 0..<n {
                let v = (src[p] + 0.5).clamped(lowerBound: .zero, upperBound: SIMD4(repeating: 255))
                out[3 * p] = UInt8(v[0])
                out[3 * p + 1] = UInt8(v[1])
                out[3 * p + 2] = UInt8(v[2])
            }
        }
        return Image(width: level.width, height: level.height, channels: 3, pixels: out)
    }

    /// `image` with the hole pixels taken from `synthesized`.
    static func merge(image: Image, hole: [UInt8], synthesized: Image) -> Image {
        var out = image
        for p in 0..<(image.width * image.height) where hole[p] != 0 {
            for c in 0..<3 { out.pixels[3 * p + c] = synthesized.pixels[3 * p + c] }
        }
        return out
    }

    // MARK: - Bands

    /// Runs `body` for each band index, concurrently when allowed. Each call
    /// writes only the state of its own band.
    func forEachBand(_ count: Int, _ body: (Int) -> Void) {
        if !options.parallel || count <= 1 {
            for band in 0..<count { body(band) }
            return
        }
        nonisolated(unsafe) let work = body
        DispatchQueue.concurrentPerform(iterations: count) { work($0) }
    }

    /// Splits `0..<n` into pieces for per-element work (any cut gives the same result).
    func forEachChunk(_ n: Int, _ body: (Range<Int>) -> Void) {
        let pieces = options.parallel && n >= 4096 ? 8 : 1
        forEachBand(pieces) { piece in
            let lower = n * piece / pieces, upper = n * (piece + 1) / pieces
            if lower < upper { body(lower..<upper) }
        }
    }

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

    /// Exemplar-based initialisation of the (coarsest) level, in the manner of
    /// Criminisi et al. (2004): repeatedly the boundary pixel of highest
    /// priority (confidence of its window × strength of the image structure
    /// that meets the boundary there) has its window matched against every
    /// valid source patch (filled pixels weigh 1, unfilled ones — still holding
    /// the initial fill — weigh `priorWeight`), and the unfilled pixels of the
    /// window are copied from the best one. Linear structures are thus carried
    /// into the hole before flat areas close over them. Sequential and
    /// deterministic (ties broken by pixel index). Seeds the field of the
    /// hole targets with the copied positions.
    func onionPeel(_ level: Level, salt: Int) {
        let (w, h, r) = (level.width, level.height, level.radius)
        let n = w * h
        var filled = level.hole.map { $0 == 0 }
        var confidence = level.hole.map { $0 == 0 ? Float(1) : 0 }
        var weight = level.hole.map { $0 == 0 ? Float(1) : options.priorWeight }
        var assigned = [Int32](repeating: -1, count: n)
        var version = [Int32](repeating: 0, count: n)
        let sources = level.validList
        if sources.isEmpty { return }
        var luminance = level.pixels.map { 0.299 * $0[0] + 0.587 * $0[1] + 0.114 * $0[2] }
        var rng = SplitMix64.derived(seed, 4, salt)
        let holeCount = level.hole.reduce(0) { $0 + Int($1) }
        // About holeCount / (patch area / 3) searches.
        let searches = max(1, holeCount * 3 / ((2 * r + 1) * (2 * r + 1)))
        let stride = max(1, (searches * sources.count + options.peelBudget - 1) / options.peelBudget)

        func priority(_ p: Int) -> Float {
            let py = p / w, px = p - py * w
            var c: Float = 0, area: Float = 0, nx: Float = 0, ny: Float = 0
            var gBest: Float = 0, gx: Float = 0, gy: Float = 0
            for dy in max(-r, -py)...min(r, h - 1 - py) {
                for dx in max(-r, -px)...min(r, w - 1 - px) {
                    let q = p + dy * w + dx
                    area += 1
                    guard filled[q] else { continue }
                    c += confidence[q]
                    nx += Float(dx); ny += Float(dy)
                    let qx = px + dx, qy = py + dy
                    if qx > 0 && qx < w - 1 && qy > 0 && qy < h - 1 && filled[q - 1] && filled[q + 1]
                        && filled[q - w] && filled[q + w] {
                        let ix = (luminance[q + 1] - luminance[q - 1]) / 2
                        let iy = (luminance[q + w] - luminance[q - w]) / 2
                        let g = ix * ix + iy * iy
                        if g > gBest { gBest = g; gx = ix; gy = iy }
                    }
                }
            }
            let norm = (nx * nx + ny * ny).squareRoot()
            var data: Float = 0
            if norm > 0 {
                // Isophote (−gy, gx) against the boundary normal.
                data = abs(-gy * nx + gx * ny) / norm / 255
            }
            return c / area * (0.05 + options.dataWeight * data)
        }

        // A binary max-heap of (priority, pixel, version); stale entries are skipped.
        var heap: [(Float, Int32, Int32)] = []
        func above(_ a: (Float, Int32, Int32), _ b: (Float, Int32, Int32)) -> Bool {
            a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
        }
        func push(_ e: (Float, Int32, Int32)) {
            heap.append(e)
            var i = heap.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                if !above(heap[i], heap[parent]) { break }
                heap.swapAt(i, parent)
                i = parent
            }
        }
        func pop() -> (Float, Int32, Int32) {
            let top = heap[0]
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                var i = 0
                while true {
                    let (l, rr) = (2 * i + 1, 2 * i + 2)
                    var m = i
                    if l < heap.count && above(heap[l], heap[m]) { m = l }
                    if rr < heap.count && above(heap[rr], heap[m]) { m = rr }
                    if m == i { break }
                    heap.swapAt(i, m)
                    i = m
                }
            }
            return top
        }
        func isFront(_ p: Int) -> Bool {
            if filled[p] { return false }
            let py = p / w, px = p - py * w
            for dy in -1...1 where py + dy >= 0 && py + dy < h {
                for dx in -1...1 where px + dx >= 0 && px + dx < w && filled[p + dy * w + dx] { return true }
            }
            return false
        }
        for p in 0..<n where isFront(p) { push((priority(p), Int32(p), 0)) }

        level.pixels.withUnsafeMutableBufferPointer { imgBuffer in
            let img = imgBuffer.baseAddress!
            while !heap.isEmpty {
                let (_, p32, v) = pop()
                let p = Int(p32)
                if filled[p] || version[p] != v { continue }
                let py = p / w, px = p - py * w
                // Best source: exhaustive (or strided) plus the neighbours' shifted matches.
                var best = Float.infinity
                var bestSource = -1
                func consider(_ s: Int) {
                    let d = weight.withUnsafeBufferPointer {
                        Self.weightedDistance(UnsafePointer(img), $0.baseAddress!, width: w, height: h, radius: r,
                                              target: p, source: s, limit: best)
                    }
                    if d < best || (d == best && s < bestSource) { best = d; bestSource = s }
                }
                var j = stride == 1 ? 0 : rng.below(stride)
                while j < sources.count { consider(Int(sources[j])); j += stride }
                if stride > 1 {
                    for dy in -1...1 where py + dy >= 0 && py + dy < h {
                        for dx in -1...1 where px + dx >= 0 && px + dx < w {
                            let a = Int(assigned[p + dy * w + dx])
                            if a < 0 { continue }
                            let ay = a / w, ax = a - ay * w
                            let sx = ax - dx, sy = ay - dy
                            if sx >= 0 && sx < w && sy >= 0 && sy < h && level.valid[sy * w + sx] != 0 {
                                consider(sy * w + sx)
                            }
                        }
                    }
                }
                // Copy the unfilled pixels of the window.
                var c: Float = 0, area: Float = 0
                for dy in max(-r, -py)...min(r, h - 1 - py) {
                    for dx in max(-r, -px)...min(r, w - 1 - px) {
                        area += 1
                        c += confidence[p + dy * w + dx]
                    }
                }
                let fresh = c / area
                for dy in max(-r, -py)...min(r, h - 1 - py) {
                    for dx in max(-r, -px)...min(r, w - 1 - px) {
                        let q = p + dy * w + dx
                        if filled[q] { continue }
                        let s = bestSource + dy * w + dx
                        img[q] = img[s]
                        luminance[q] = luminance[s]
                        filled[q] = true
                        confidence[q] = fresh
                        weight[q] = 1
                        assigned[q] = Int32(s)
                    }
                }
                // New priorities around the copied window.
                let reach = r + 1
                for dy in max(-reach, -py)...min(reach, h - 1 - py) {
                    for dx in max(-reach, -px)...min(reach, w - 1 - px) {
                        let q = p + dy * w + dx
                        if isFront(q) {
                            version[q] &+= 1
                            push((priority(q), Int32(q), version[q]))
                        }
                    }
                }
            }
        }
        // Seed the field: hole targets take their pixel's source.
        for k in 0..<level.targets.count {
            let a = assigned[Int(level.targets[k])]
            if a >= 0 && level.valid[Int(a)] != 0 { level.field[k] = a }
        }
    }

    /// ``patchDistance`` with a weight per target pixel.
    @inline(__always)
    static func weightedDistance(_ img: UnsafePointer<SIMD4<Float>>, _ weight: UnsafePointer<Float>, width w: Int,
                                 height h: Int, radius r: Int, target q: Int, source s: Int, limit: Float) -> Float {
        let qy = q / w, qx = q - qy * w
        let x0 = max(-r, -qx), x1 = min(r, w - 1 - qx)
        let y0 = max(-r, -qy), y1 = min(r, h - 1 - qy)
        var sum: Float = 0
        var dy = y0
        while dy <= y1 {
            let t = img + (q + dy * w)
            let u = img + (s + dy * w)
            let tw = weight + (q + dy * w)
            var acc = SIMD4<Float>.zero
            var dx = x0
            while dx <= x1 {
                let d = t[dx] - u[dx]
                acc += tw[dx] * (d * d)
                dx += 1
            }
            sum += acc.sum()
            if sum >= limit { return sum }
            dy += 1
        }
        return sum
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
    func patchMatch(_ level: Level, salt: [Int], backward: Bool) {
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
                                            var rng = SplitMix64.derived(seed, 3, salt[0], salt[1], salt[2], band)
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
    /// it propose. Reads only known pixels (sources are wholly known), so it
    /// writes in place.
    func vote(_ level: Level, weighted: Bool) {
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
            let scale = max(sample[min(sample.count - 1, Int(Float(sample.count) * options.weightPercentile))], 1) * options.weightScale
            for k in 0..<targetCount { weights[k] = expf(-perPixel[k] / (2 * scale)) + 1e-6 }
        }
        let mix = options.textureVoteMix
        let priorArray = level.texturePrior
        level.pixels.withUnsafeMutableBufferPointer { imgBuffer in
          priorArray.withUnsafeBufferPointer { priorBuffer in
            let prior = priorBuffer.isEmpty ? nil : priorBuffer.baseAddress
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
                                        for dy in max(-r, -py)...min(r, h - 1 - py) {
                                            for dx in max(-r, -px)...min(r, w - 1 - px) {
                                                let q = (py + dy) * w + px + dx
                                                let t = Int(to[q])
                                                let s = Int(f[t]) - dy * w - dx
                                                acc += wt[t] * img.base[s]
                                                total += wt[t]
                                            }
                                        }
                                        var value = acc / total
                                        if let prior { value[3] = mix * value[3] + (1 - mix) * prior[py * w + px] }
                                        img.base[py * w + px] = value
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
