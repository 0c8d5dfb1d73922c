import Foundation

/// A Gaussian mixture over RGB colours, GrabCut's colour model: `componentCount` full-covariance components,
/// fitted from colours that have been assigned to components (k-means at first, then each colour's likeliest
/// component).
struct ColorMixture: Sendable, Equatable {
    static let componentCount = 5
    /// Added to the diagonal of a covariance whose determinant is not positive (a flat or degenerate component),
    /// so every component stays invertible.
    static let regularisation = 0.01

    /// Mixing weights; 0 for a component no colour was assigned to.
    private(set) var weights: [Double]
    /// Means, 3 per component.
    private(set) var means: [Double]
    /// Covariances, 9 per component, row-major.
    private(set) var covariances: [Double]
    /// Inverse covariances, 9 per component.
    private var inverses: [Double]
    /// 1 / √det(Σ) per component (the Gaussian's normaliser without the constant (2π)^(3/2), which cancels between
    /// the two mixtures GrabCut compares).
    private var normalisers: [Double]

    /// Fits the mixture: `colors` holds 3 values per sample, `components[i]` the component of sample `i`.
    init(colors: UnsafeBufferPointer<Double>, components: UnsafeBufferPointer<UInt8>) {
        let k = Self.componentCount
        precondition(colors.count == components.count * 3, "3 colour values per sample")
        var counts = [Int](repeating: 0, count: k)
        var sums = [Double](repeating: 0, count: 3 * k)
        var products = [Double](repeating: 0, count: 9 * k)
        for i in 0..<components.count {
            let c = Int(components[i])
            let r = colors[3 * i], g = colors[3 * i + 1], b = colors[3 * i + 2]
            counts[c] += 1
            sums[3 * c] += r; sums[3 * c + 1] += g; sums[3 * c + 2] += b
            let p = 9 * c
            products[p] += r * r; products[p + 1] += r * g; products[p + 2] += r * b
            products[p + 4] += g * g; products[p + 5] += g * b
            products[p + 8] += b * b
        }
        weights = [Double](repeating: 0, count: k)
        means = [Double](repeating: 0, count: 3 * k)
        covariances = [Double](repeating: 0, count: 9 * k)
        inverses = [Double](repeating: 0, count: 9 * k)
        normalisers = [Double](repeating: 0, count: k)
        let total = components.count
        for c in 0..<k where counts[c] > 0 {
            let n = Double(counts[c])
            weights[c] = n / Double(total)
            let m = (sums[3 * c] / n, sums[3 * c + 1] / n, sums[3 * c + 2] / n)
            means[3 * c] = m.0; means[3 * c + 1] = m.1; means[3 * c + 2] = m.2
            let p = 9 * c
            var s = [products[p] / n - m.0 * m.0, products[p + 1] / n - m.0 * m.1, products[p + 2] / n - m.0 * m.2,
                     0, products[p + 4] / n - m.1 * m.1, products[p + 5] / n - m.1 * m.2,
                     0, 0, products[p + 8] / n - m.2 * m.2]
            s[3] = s[1]; s[6] = s[2]; s[7] = s[5]
            if Self.determinant(s) <= Double.ulpOfOne {
                s[0] += Self.regularisation; s[4] += Self.regularisation; s[8] += Self.regularisation
            }
            var det = Self.determinant(s)
            if det <= Double.ulpOfOne {
                // Still singular (a near-constant colour channel with tiny variance elsewhere): widen further.
                s[0] += 1; s[4] += 1; s[8] += 1
                det = Self.determinant(s)
            }
            covariances.replaceSubrange(p..<p + 9, with: s)
            let inverse = [(s[4] * s[8] - s[5] * s[7]), -(s[1] * s[8] - s[2] * s[7]), (s[1] * s[5] - s[2] * s[4]),
                           -(s[3] * s[8] - s[5] * s[6]), (s[0] * s[8] - s[2] * s[6]), -(s[0] * s[5] - s[2] * s[3]),
                           (s[3] * s[7] - s[4] * s[6]), -(s[0] * s[7] - s[1] * s[6]), (s[0] * s[4] - s[1] * s[3])]
            inverses.replaceSubrange(p..<p + 9, with: inverse.map { $0 / det })
            normalisers[c] = 1 / det.squareRoot()
        }
    }

    static func determinant(_ s: [Double]) -> Double {
        s[0] * (s[4] * s[8] - s[5] * s[7]) - s[1] * (s[3] * s[8] - s[5] * s[6]) + s[2] * (s[3] * s[7] - s[4] * s[6])
    }

    /// Component `c`'s Gaussian density at a colour (without the mixing weight); 0 for an empty component.
    @inline(__always)
    func density(_ c: Int, _ r: Double, _ g: Double, _ b: Double) -> Double {
        guard weights[c] > 0 else { return 0 }
        let dr = r - means[3 * c], dg = g - means[3 * c + 1], db = b - means[3 * c + 2]
        let q = inverses.withUnsafeBufferPointer { m -> Double in
            let p = 9 * c
            return dr * (m[p] * dr + m[p + 1] * dg + m[p + 2] * db)
                + dg * (m[p + 3] * dr + m[p + 4] * dg + m[p + 5] * db)
                + db * (m[p + 6] * dr + m[p + 7] * dg + m[p + 8] * db)
        }
        return normalisers[c] * exp(-0.5 * q)
    }

    /// The mixture's density at a colour: Σ weight × density.
    func likelihood(_ r: Double, _ g: Double, _ b: Double) -> Double {
        var sum = 0.0
        for c in 0..<Self.componentCount where weights[c] > 0 { sum += weights[c] * density(c, r, g, b) }
        return sum
    }

    /// The component whose Gaussian explains a colour best (as the GrabCut paper's per-pixel assignment; the
    /// mixing weight is left out, as OpenCV does).
    func likeliestComponent(_ r: Double, _ g: Double, _ b: Double) -> UInt8 {
        var best = 0
        var bestDensity = 0.0
        for c in 0..<Self.componentCount {
            let d = density(c, r, g, b)
            if d > bestDensity { best = c; bestDensity = d }
        }
        return UInt8(best)
    }
}
