import Foundation

/// GrabCut's smoothness term on the 8-neighbour grid: a link between neighbours m and n weighs
/// γ / dist(m, n) · exp(−β ‖z_m − z_n‖²), with β = 1 / (2 ⟨‖z_m − z_n‖²⟩) over every neighbouring pair, so cutting
/// between similar colours costs much and cutting along an edge little. Each pair is stored once, at the later
/// pixel in raster order.
struct NeighbourLinks {
    /// β; 0 for an image of one colour (every link then weighs γ / dist).
    let beta: Double
    /// The neighbours looked back at — left, up-left, up, up-right — as offsets, with each pixel's weight to that
    /// neighbour (0 where the neighbour is off the image).
    let backward: [(dx: Int, dy: Int, weights: [Double])]
    let width: Int
    let height: Int

    static let offsets = [(-1, 0), (-1, -1), (0, -1), (1, -1)]

    init(colors: [Double], width: Int, height: Int, gamma: Double) {
        self.width = width
        self.height = height
        func squaredDifference(_ p: Int, _ q: Int) -> Double {
            let dr = colors[3 * p] - colors[3 * q], dg = colors[3 * p + 1] - colors[3 * q + 1], db = colors[3 * p + 2] - colors[3 * q + 2]
            return dr * dr + dg * dg + db * db
        }
        var total = 0.0
        var pairs = 0
        for y in 0..<height {
            for x in 0..<width {
                for (dx, dy) in Self.offsets {
                    let qx = x + dx, qy = y + dy
                    guard qx >= 0, qx < width, qy >= 0 else { continue }
                    total += squaredDifference(y * width + x, qy * width + qx)
                    pairs += 1
                }
            }
        }
        let mean = pairs > 0 ? total / Double(pairs) : 0
        beta = mean > Double.ulpOfOne ? 1 / (2 * mean) : 0
        var backward: [(dx: Int, dy: Int, weights: [Double])] = []
        for (dx, dy) in Self.offsets {
            let scale = gamma / (Double(dx * dx + dy * dy)).squareRoot()
            var weights = [Double](repeating: 0, count: width * height)
            for y in 0..<height {
                for x in 0..<width {
                    let qx = x + dx, qy = y + dy
                    guard qx >= 0, qx < width, qy >= 0 else { continue }
                    let p = y * width + x
                    weights[p] = scale * exp(-beta * squaredDifference(p, qy * width + qx))
                }
            }
            backward.append((dx, dy, weights))
        }
        self.backward = backward
    }

    /// For each pixel of `box` (row-major within it), the total weight of its links to pixels outside the box:
    /// those neighbours are background for sure, so the link is cut exactly when the pixel is foreground.
    func weightToOutside(of box: GrabCut.Box) -> [Double] {
        var outside = [Double](repeating: 0, count: box.width * box.height)
        for y in 0..<height {
            for x in 0..<width {
                let inside = box.contains(x, y)
                for (dx, dy, weights) in backward {
                    let qx = x + dx, qy = y + dy
                    guard qx >= 0, qx < width, qy >= 0, box.contains(qx, qy) != inside else { continue }
                    let w = weights[y * width + x]
                    if inside {
                        outside[(y - box.y) * box.width + x - box.x] += w
                    } else {
                        outside[(qy - box.y) * box.width + qx - box.x] += w
                    }
                }
            }
        }
        return outside
    }
}
