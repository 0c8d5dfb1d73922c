/// k-means over RGB colours with k-means++ seeding (Arthur & Vassilvitskii 2007), GrabCut's first assignment of
/// colours to mixture components. Seeded, so the same colours always give the same clusters.
enum ColorClusters {
    /// The cluster (0..<k) of each sample in `colors` (3 values per sample) after `iterations` Lloyd steps.
    /// Fewer distinct samples than `k` leave some clusters empty.
    static func assign(_ colors: UnsafeBufferPointer<Double>, k: Int, iterations: Int = 10, seed: UInt64) -> [UInt8] {
        let count = colors.count / 3
        var labels = [UInt8](repeating: 0, count: count)
        guard count > 0, k > 1 else { return labels }
        var random = SplitMix64(seed: seed)
        var centres = seedCentres(colors, count: count, k: k, random: &random)
        var sums = [Double](repeating: 0, count: 3 * k)
        var sizes = [Int](repeating: 0, count: k)
        for iteration in 0..<iterations {
            var changed = iteration == 0
            for i in 0..<count {
                let label = UInt8(nearest(colors, i, centres))
                if label != labels[i] { labels[i] = label; changed = true }
            }
            if !changed { break }
            for c in 0..<3 * k { sums[c] = 0 }
            for c in 0..<k { sizes[c] = 0 }
            for i in 0..<count {
                let c = Int(labels[i])
                sizes[c] += 1
                sums[3 * c] += colors[3 * i]; sums[3 * c + 1] += colors[3 * i + 1]; sums[3 * c + 2] += colors[3 * i + 2]
            }
            // An emptied cluster keeps its centre.
            for c in 0..<k where sizes[c] > 0 {
                let n = Double(sizes[c])
                centres[3 * c] = sums[3 * c] / n; centres[3 * c + 1] = sums[3 * c + 1] / n; centres[3 * c + 2] = sums[3 * c + 2] / n
            }
        }
        for i in 0..<count { labels[i] = UInt8(nearest(colors, i, centres)) }
        return labels
    }

    /// k-means++: the first centre uniformly at random, each next one with probability proportional to the squared
    /// distance to the nearest centre chosen so far. When every sample already sits on a centre the remaining
    /// centres repeat the first (their clusters stay empty).
    private static func seedCentres(_ colors: UnsafeBufferPointer<Double>, count: Int, k: Int, random: inout SplitMix64) -> [Double] {
        var centres = [Double](repeating: 0, count: 3 * k)
        let first = random.below(count)
        for c in 0..<k { for d in 0..<3 { centres[3 * c + d] = colors[3 * first + d] } }
        var nearestSquared = (0..<count).map { squaredDistance(colors, $0, centres, 0) }
        for c in 1..<k {
            let total = nearestSquared.reduce(0, +)
            guard total > 0 else { break }
            // A uniform number in [0, total) from 53 random bits.
            var target = Double(random.next() >> 11) / Double(1 << 53) * total
            var chosen = count - 1
            for i in 0..<count {
                target -= nearestSquared[i]
                if target < 0 { chosen = i; break }
            }
            for d in 0..<3 { centres[3 * c + d] = colors[3 * chosen + d] }
            for i in 0..<count { nearestSquared[i] = min(nearestSquared[i], squaredDistance(colors, i, centres, c)) }
        }
        return centres
    }

    @inline(__always)
    private static func squaredDistance(_ colors: UnsafeBufferPointer<Double>, _ i: Int, _ centres: [Double], _ c: Int) -> Double {
        let dr = colors[3 * i] - centres[3 * c], dg = colors[3 * i + 1] - centres[3 * c + 1], db = colors[3 * i + 2] - centres[3 * c + 2]
        return dr * dr + dg * dg + db * db
    }

    /// The nearest centre; ties go to the lower index.
    @inline(__always)
    private static func nearest(_ colors: UnsafeBufferPointer<Double>, _ i: Int, _ centres: [Double]) -> Int {
        var best = 0
        var bestDistance = Double.infinity
        for c in 0..<centres.count / 3 {
            let d = squaredDistance(colors, i, centres, c)
            if d < bestDistance { best = c; bestDistance = d }
        }
        return best
    }
}
