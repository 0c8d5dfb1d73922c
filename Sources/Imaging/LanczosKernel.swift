import Foundation
import Synchronization

/// The fixed-point LANCZOS (a = 3) weights for one axis, `inSize` → `outSize`
/// samples, computed exactly as Pillow 10.4 does (docs/fooocus.md §3.0).
///
/// Output sample `i` is `clamp(((1 << 21) + Σ_k in[start[i] + k] · weights[i·taps + k]) >> 22, 0, 255)`
/// for `k` in `0..<count[i]`.
struct LanczosKernel: Sendable {
    /// Input length.
    let inSize: Int
    /// Output length.
    let outSize: Int
    /// Row stride of ``weights``: the most taps any output can use.
    let taps: Int
    /// First input index used by each output.
    let start: [Int]
    /// Number of input samples used by each output.
    let count: [Int]
    /// `outSize * taps` weights scaled by 2^22; entries past `count[i]` are 0.
    let weights: [Int32]

    /// Whether every weight splits as `high·256 + low` with `high` in
    /// Int16 range (|w| < 2^23), which the SIMD vertical pass needs.
    let splitWeightsFit: Bool

    /// Fixed-point precision of the weights (Pillow's `PRECISION_BITS`).
    static let precisionBits: Int32 = 22
    /// The rounding bias added before the final shift.
    static let half: Int32 = 1 << 21

    /// The truncated sinc Pillow calls `lanczos_filter`.
    @inline(__always)
    static func lanczos(_ x: Double) -> Double {
        guard -3.0 <= x && x < 3.0 else { return 0 }
        return sinc(x) * sinc(x / 3)
    }

    @inline(__always)
    static func sinc(_ x: Double) -> Double {
        if x == 0 { return 1 }
        let px = x * Double.pi
        return sin(px) / px
    }

    /// Builds the table; the double arithmetic follows Pillow's operation
    /// order so the rounded weights come out identical.
    init(inSize: Int, outSize: Int) {
        precondition(inSize > 0 && outSize > 0, "LANCZOS needs non-empty sizes")
        self.inSize = inSize
        self.outSize = outSize
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1.0)
        let support = 3.0 * filterScale
        let taps = Int(support.rounded(.up)) * 2 + 1
        let reciprocal = 1.0 / filterScale
        var start = [Int](repeating: 0, count: outSize)
        var count = [Int](repeating: 0, count: outSize)
        var weights = [Int32](repeating: 0, count: outSize * taps)
        var raw = [Double](repeating: 0, count: taps)
        for out in 0..<outSize {
            let center = (Double(out) + 0.5) * scale
            // C casts truncate toward zero; negative lows then clamp to 0.
            let low = max(0, Int(center - support + 0.5))
            let high = min(inSize, Int(center + support + 0.5))
            let n = max(0, high - low)
            var sum = 0.0
            for k in 0..<n {
                let w = LanczosKernel.lanczos((Double(low + k) - center + 0.5) * reciprocal)
                raw[k] = w
                sum += w
            }
            let base = out * taps
            for k in 0..<n {
                let w = sum != 0 ? raw[k] / sum : raw[k]
                let scaled = w * 4_194_304.0
                weights[base + k] = w < 0 ? Int32(-0.5 + scaled) : Int32(0.5 + scaled)
            }
            start[out] = low
            count[out] = n
        }
        self.taps = taps
        self.start = start
        self.count = count
        self.weights = weights
        self.splitWeightsFit = weights.allSatisfy { abs(Int($0)) < 1 << 23 }
    }

    /// Pillow's `clip8`: the accumulated sum shifted down and saturated.
    @inline(__always)
    static func clip(_ sum: Int32) -> UInt8 {
        UInt8(clamping: sum >> precisionBits)
    }

    // MARK: Cache

    private static let cache = Mutex<[Key: LanczosKernel]>([:])
    private static let cacheLimit = 64

    private struct Key: Hashable {
        var inSize: Int
        var outSize: Int
    }

    /// The table for `inSize` → `outSize`, built once and then reused (the
    /// pipeline resizes between a handful of recurring sizes).
    static func cached(inSize: Int, outSize: Int) -> LanczosKernel {
        let key = Key(inSize: inSize, outSize: outSize)
        if let hit = cache.withLock({ $0[key] }) { return hit }
        let kernel = LanczosKernel(inSize: inSize, outSize: outSize)
        cache.withLock { table in
            if table.count >= cacheLimit { table.removeAll(keepingCapacity: true) }
            table[key] = kernel
        }
        return kernel
    }
}
