import Dispatch
import Imaging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Content-aware fill by multi-scale patch-based synthesis (Wexler et al. 2007,
/// with PatchMatch of Barnes et al. 2009): an image pyramid, coarse to fine; at
/// every level a few EM iterations of nearest-neighbour-field search
/// (propagation + random search) and voting. The coarsest level starts from the
/// initial fill, completed by an exemplar-based fill in confidence order
/// (Criminisi et al. 2004) so that structures enter the hole before the EM
/// refines it; finer levels start from the coarser field, scaled up.
///
/// Patches are 7×7 over RGB plus a texture feature (the local mean gradient
/// magnitude, measured at full resolution and averaged down, as in Newson et
/// al. 2014), which keeps flat sources from matching a blurry estimate of a
/// textured hole. Source patches come only from windows wholly inside the image
/// and the known region, so nothing under the hole is ever read.
///
/// Determinism: all randomness comes from ``SplitMix64`` generators derived from
/// the seed and fixed units of work (level, iteration, band). Targets are cut
/// into bands that depend only on the data; each band sweeps its own targets in
/// order and reads neighbours outside itself from the previous sweep's field;
/// voting computes each pixel on its own. So the result is the same on any
/// number of threads, in any schedule.
struct PatchSynthesis {
    struct Options: Sendable {
        /// Patch radius (7×7 patches); smaller only where no 7×7 source exists.
        var patchRadius = 3
        /// No coarser level is built below this short side.
        var coarsestShortSide = 64
        /// A coarser level needs at least this many valid source patches.
        var minimumSources = 64
        /// EM iterations at the coarsest and the finest level (linear in between).
        var emCoarsest = 6
        var emFinest = 2
        /// PatchMatch sweeps per EM iteration at the coarsest and the finest level.
        var pmCoarsest = 2
        var pmFinest = 1
        /// Weight of the texture feature (lane 3) against the colour; 0 turns it off.
        var textureWeight: Float = 4
        /// Side of the box the texture feature averages the gradient over.
        var textureWindow = 5
        /// Exemplar-based completion of the coarsest level before its EM.
        var exemplarInitialisation = true
        /// In that completion, how much the not yet filled pixels (still holding
        /// the initial fill) count in a patch comparison, filled ones counting 1.
        var priorWeight: Float = 0.1
        /// Most (search × source) comparisons the completion may make; beyond,
        /// it compares a strided subset of the sources.
        var exemplarBudget = 4_000_000
        /// The seed picks among this many best sources of each completion step,
        /// those within a factor 1 + `choiceSlack` of the best one's distance.
        var choices = 4
        var choiceSlack: Float = 0.3
        /// Voting weights are exp(−d / (2·s)), d a target's distance per pixel and
        /// s its 75th percentile times this.
        var weightScale: Float = 0.25
        /// Votes above the finest level, and the last one at it, give each pixel
        /// the best patch's value instead of the weighted mean: averaging
        /// disagreeing patches would blur coarse structure away (a blurred
        /// estimate then matches flat sources best) and soften the final texture.
        var sharpCoarseVotes = true
        var sharpFinalVote = true
        /// Run bands concurrently (false: in order on the calling thread; same result).
        var parallel = true
        /// Most target bands per level (a constant, not the core count).
        var maximumBands = 16
    }

    /// One level of the pyramid.
    final class Level {
        let width: Int
        let height: Int
        /// The current estimate: RGB in lanes 0...2, the texture feature in lane 3.
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
        /// The nearest-neighbour field per target (source pixel index) and its patch distances.
        var field: [Int32] = []
        var distance: [Float] = []
        /// Band bounds over the target indices (bands + 1 entries).
        var bands: [Int] = []

        init(width: Int, height: Int, pixels: [SIMD4<Float>], hole: [UInt8]) {
            self.width = width
            self.height = height
            self.pixels = pixels
            self.hole = hole
        }

        /// Marks the targets and valid sources for patch radius `r`; returns the
        /// number of valid sources.
        @discardableResult
        func layout(radius r: Int) -> Int {
            radius = r
            let (w, h) = (width, height)
            // Square dilation of the hole by r, separably (nearest hole on each side).
            var rows = [UInt8](repeating: 0, count: w * h)
            for y in 0..<h {
                var last = Int.min / 2
                for x in 0..<w {
                    if hole[y * w + x] != 0 { last = x }
                    if x - last <= r { rows[y * w + x] = 1 }
                }
                last = Int.max / 2
                for x in stride(from: w - 1, through: 0, by: -1) {
                    if hole[y * w + x] != 0 { last = x }
                    if last - x <= r { rows[y * w + x] = 1 }
                }
            }
            var dilated = [UInt8](repeating: 0, count: w * h)
            for x in 0..<w {
                var last = Int.min / 2
                for y in 0..<h {
                    if rows[y * w + x] != 0 { last = y }
                    if y - last <= r { dilated[y * w + x] = 1 }
                }
                last = Int.max / 2
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

        /// Lane 3 of the known pixels: `weight` × the mean, over a `window`² box,
        /// of the luminance gradient magnitude |∂x| + |∂y| (central differences,
        /// one-sided next to the hole), all from known pixels only.
        func computeTexture(weight: Float, window: Int) {
            let (w, h) = (width, height)
            let luminance = pixels.map { 0.299 * $0[0] + 0.587 * $0[1] + 0.114 * $0[2] }
            var gradient = [Float](repeating: 0, count: w * h)
            for y in 0..<h {
                for x in 0..<w where hole[y * w + x] == 0 {
                    let p = y * w + x
                    let left = x > 0 && hole[p - 1] == 0 ? p - 1 : p
                    let right = x < w - 1 && hole[p + 1] == 0 ? p + 1 : p
                    let up = y > 0 && hole[p - w] == 0 ? p - w : p
                    let down = y < h - 1 && hole[p + w] == 0 ? p + w : p
                    let gx = right > left ? abs(luminance[right] - luminance[left]) / Float(right - left) : 0
                    let gy = down > up ? abs(luminance[down] - luminance[up]) / Float((down - up) / w) : 0
                    gradient[p] = gx + gy
                }
            }
            // Masked box mean through summed-area tables of values and counts.
            let sw = w + 1
            var sum = [Float](repeating: 0, count: sw * (h + 1))
            var count = [Float](repeating: 0, count: sw * (h + 1))
            for y in 0..<h {
                var rowSum: Float = 0, rowCount: Float = 0
                for x in 0..<w {
                    if hole[y * w + x] == 0 { rowSum += gradient[y * w + x]; rowCount += 1 }
                    sum[(y + 1) * sw + x + 1] = sum[y * sw + x + 1] + rowSum
                    count[(y + 1) * sw + x + 1] = count[y * sw + x + 1] + rowCount
                }
            }
            let half = window / 2
            for y in 0..<h {
                let y0 = max(0, y - half), y1 = min(h, y + half + 1)
                for x in 0..<w where hole[y * w + x] == 0 {
                    let x0 = max(0, x - half), x1 = min(w, x + half + 1)
                    let s = sum[y1 * sw + x1] - sum[y0 * sw + x1] - sum[y1 * sw + x0] + sum[y0 * sw + x0]
                    let n = count[y1 * sw + x1] - count[y0 * sw + x1] - count[y1 * sw + x0] + count[y0 * sw + x0]
                    pixels[y * w + x][3] = n > 0 ? weight * s / n : 0
                }
            }
        }

        /// Lane 3 of the hole by harmonic interpolation of its surroundings
        /// (Jacobi sweeps from the known mean); used at the coarsest level only.
        func diffuseTexture() {
            let (w, h) = (width, height)
            var value = pixels.map { $0[3] }
            let holes = (0..<(w * h)).filter { hole[$0] != 0 }
            var knownSum: Float = 0, knownCount: Float = 0
            for p in 0..<(w * h) where hole[p] == 0 { knownSum += value[p]; knownCount += 1 }
            let mean = knownCount > 0 ? knownSum / knownCount : 0
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
        }

        /// The next coarser level: 2×2 means (all lanes); a coarse pixel is a hole
        /// if any of its children is, so a known coarse pixel averages known pixels only.
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

    /// Fills the pixels of `image` (3 channels) where `hole` is non-zero,
    /// starting from `initial` (3 channels, any size; it is resized to the
    /// coarsest level). Known pixels come back unchanged. Checks for
    /// cancellation between iterations and reports progress in 0...1, ending at 1.
    func synthesize(image: Image, hole: [UInt8], initial: Image,
                    progress: @escaping @Sendable (Double) async -> Void) async throws -> Image {
        precondition(image.channels == 3 && initial.channels == 3, "RGB images expected")
        precondition(hole.count == image.width * image.height, "hole mask must match the image")
        let (w, h) = (image.width, image.height)
        guard hole.contains(where: { $0 != 0 }) else {
            await progress(1)
            return image
        }

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
            return Self.merge(image: image, hole: hole, synthesized: Resample.lanczos(initial, width: w, height: h))
        }
        // Measured at full resolution and averaged down the pyramid, the texture
        // feature still tells fine texture (grass, mesh) from flat areas when coarse.
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

        let count = levels.count
        func em(_ level: Int) -> Int {
            count == 1 ? options.emCoarsest
                : options.emFinest + (options.emCoarsest - options.emFinest) * level / (count - 1)
        }
        func pm(_ level: Int) -> Int {
            count == 1 ? options.pmCoarsest
                : options.pmFinest + (options.pmCoarsest - options.pmFinest) * level / (count - 1)
        }
        // Progress counts target visits.
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
                let resized = Resample.lanczos(initial, width: level.width, height: level.height)
                resized.pixels.withUnsafeBufferPointer { src in
                    for p in 0..<(level.width * level.height) where level.hole[p] != 0 {
                        level.pixels[p] = SIMD4(Float(src[3 * p]), Float(src[3 * p + 1]), Float(src[3 * p + 2]), 0)
                    }
                }
                if options.textureWeight > 0 { level.diffuseTexture() }
                randomField(level, salt: index)
                if options.exemplarInitialisation { exemplarFill(level, salt: index) }
            } else {
                upsampleField(from: levels[index + 1], to: level, salt: index)
                vote(level, weighted: false)
            }
            for iteration in 0..<em(index) {
                try Task.checkCancellation()
                computeDistances(level)
                for sweep in 0..<pm(index) {
                    patchMatch(level, salt: (index, iteration, sweep), backward: sweep % 2 == 1)
                }
                vote(level, weighted: true,
                     sharp: index > 0 ? options.sharpCoarseVotes
                         : options.sharpFinalVote && iteration == em(index) - 1)
                done += Double(level.targets.count * (pm(index) + 1))
                await progress(min(1, done / total) * 0.999)
            }
        }
        try Task.checkCancellation()
        let synthesized = Self.bytes(finest)
        await progress(1)
        return Self.merge(image: image, hole: hole, synthesized: synthesized)
    }

    /// The level's colour as RGB bytes (rounded, clamped).
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

    /// `image` with its hole pixels taken from `synthesized` (same size).
    static func merge(image: Image, hole: [UInt8], synthesized: Image) -> Image {
        var out = image
        for p in 0..<(image.width * image.height) where hole[p] != 0 {
            for c in 0..<3 { out.pixels[3 * p + c] = synthesized.pixels[3 * p + c] }
        }
        return out
    }

    // MARK: - Bands

    /// Calls `body` for each band index, concurrently when allowed; each call
    /// writes only its own band's state.
    func forEachBand(_ count: Int, _ body: (Int) -> Void) {
        if !options.parallel || count <= 1 {
            for band in 0..<count { body(band) }
            return
        }
        // The bands run only while this call waits for them, each writing
        // disjoint memory, so sharing `body` across threads is sound.
        nonisolated(unsafe) let work = body
        DispatchQueue.concurrentPerform(iterations: count) { work($0) }
    }

    /// Splits `0..<n` into pieces for element-wise work (any cut gives the same result).
    func forEachChunk(_ n: Int, _ body: (Range<Int>) -> Void) {
        let pieces = options.parallel && n >= 64 ? 8 : 1
        forEachBand(pieces) { piece in
            let lower = n * piece / pieces, upper = n * (piece + 1) / pieces
            if lower < upper { body(lower..<upper) }
        }
    }
}
