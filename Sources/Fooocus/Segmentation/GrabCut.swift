import Foundation
import Imaging

/// GrabCut foreground segmentation (Rother, Kolmogorov & Blake, "GrabCut — Interactive Foreground Extraction using
/// Iterated Graph Cuts", SIGGRAPH 2004) initialised from a rectangle: everything outside it is background for
/// sure, everything inside is probably foreground. Each iteration assigns every pixel to the likeliest component of
/// its side's colour mixture, refits both mixtures, and takes the minimum cut of a graph whose terminal links are
/// the colour likelihoods and whose 8-neighbour links are the contrast-sensitive smoothness term.
struct GrabCut {
    /// A rectangle in pixels; `x`, `y` is its top-left corner.
    struct Box: Sendable, Equatable {
        var x: Int
        var y: Int
        var width: Int
        var height: Int

        func contains(_ px: Int, _ py: Int) -> Bool { px >= x && px < x + width && py >= y && py < y + height }
    }

    struct Options: Sendable, Equatable {
        /// Iterations of assign → fit → cut.
        var iterations = 5
        /// Weight of the smoothness term (the paper's γ = 50).
        var gamma = 50.0
        /// Seed of the k-means++ initialisation.
        var seed: UInt64 = 0
    }

    let width: Int
    let height: Int
    /// RGB as doubles, 3 per pixel.
    let colors: [Double]
    let box: Box
    let options: Options
    /// Smoothness weights between each pixel and its left, up-left, up and up-right neighbours (0 where none).
    let links: NeighbourLinks

    /// Prepares the segmentation of an RGB image (3 channels) inside `box` (clipped to the image).
    init(_ image: Image, box: Box, options: Options = Options()) {
        precondition(image.channels == 3 && image.isConsistent, "GrabCut takes an RGB image")
        width = image.width
        height = image.height
        colors = image.pixels.map(Double.init)
        let x0 = min(max(box.x, 0), width), y0 = min(max(box.y, 0), height)
        let x1 = min(max(box.x + box.width, x0), width), y1 = min(max(box.y + box.height, y0), height)
        self.box = Box(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
        self.options = options
        links = NeighbourLinks(colors: colors, width: width, height: height, gamma: options.gamma)
    }

    /// Runs the iterations; true marks a foreground pixel (row-major). An empty box, or one that leaves no pixel
    /// outside it to learn the background from, gives no foreground.
    func segment() -> [Bool] {
        let count = width * height
        var foreground = [Bool](repeating: false, count: count)
        guard box.width > 0, box.height > 0, box.width * box.height < count else { return foreground }
        for y in box.y..<box.y + box.height {
            for x in box.x..<box.x + box.width { foreground[y * width + x] = true }
        }
        var components = [UInt8](repeating: 0, count: count)
        initialComponents(foreground, into: &components)
        var models = fit(foreground, components)
        for _ in 0..<options.iterations {
            colors.withUnsafeBufferPointer { c in
                for p in 0..<count {
                    let model = foreground[p] ? models.foreground : models.background
                    components[p] = model.likeliestComponent(c[3 * p], c[3 * p + 1], c[3 * p + 2])
                }
            }
            models = fit(foreground, components)
            cut(models, into: &foreground)
        }
        return foreground
    }

    /// k-means on each side's colours.
    private func initialComponents(_ foreground: [Bool], into components: inout [UInt8]) {
        for side in [true, false] {
            let indices = foreground.indices.filter { foreground[$0] == side }
            var samples: [Double] = []
            samples.reserveCapacity(3 * indices.count)
            for p in indices { samples.append(colors[3 * p]); samples.append(colors[3 * p + 1]); samples.append(colors[3 * p + 2]) }
            let labels = samples.withUnsafeBufferPointer {
                ColorClusters.assign($0, k: ColorMixture.componentCount, seed: options.seed &+ (side ? 1 : 2))
            }
            for (index, p) in indices.enumerated() { components[p] = labels[index] }
        }
    }

    /// Fits the foreground and background mixtures to the pixels of each side.
    private func fit(_ foreground: [Bool], _ components: [UInt8]) -> (foreground: ColorMixture, background: ColorMixture) {
        var samples: [[Double]] = [[], []]
        var labels: [[UInt8]] = [[], []]
        for p in 0..<foreground.count {
            let side = foreground[p] ? 0 : 1
            samples[side].append(colors[3 * p])
            samples[side].append(colors[3 * p + 1])
            samples[side].append(colors[3 * p + 2])
            labels[side].append(components[p])
        }
        let mixtures = (0..<2).map { side in
            samples[side].withUnsafeBufferPointer { s in
                labels[side].withUnsafeBufferPointer { l in ColorMixture(colors: s, components: l) }
            }
        }
        return (mixtures[0], mixtures[1])
    }

    /// One graph cut: relabels the pixels inside the box (outside stays background).
    private func cut(_ models: (foreground: ColorMixture, background: ColorMixture), into foreground: inout [Bool]) {
        let bw = box.width, bh = box.height
        let edges = (bw - 1) * bh + bw * (bh - 1) + 2 * (bw - 1) * (bh - 1)
        let graph = FlowGraph(nodes: bw * bh, edges: max(edges, 0))
        let outside = links.weightToOutside(of: box)
        colors.withUnsafeBufferPointer { c in
            for y in 0..<bh {
                for x in 0..<bw {
                    let p = (box.y + y) * width + box.x + x
                    let node = y * bw + x
                    let r = c[3 * p], g = c[3 * p + 1], b = c[3 * p + 2]
                    // Labelling the pixel background costs −log P(colour | background), foreground −log P(colour |
                    // foreground) plus every link to a neighbour outside the box (background for sure). Only the
                    // difference matters, so both are shifted to be non-negative.
                    // The source side is foreground: cutting the source link labels the pixel background.
                    var backgroundCost = -log(max(models.background.likelihood(r, g, b), Double.leastNormalMagnitude))
                    var foregroundCost = -log(max(models.foreground.likelihood(r, g, b), Double.leastNormalMagnitude)) + outside[node]
                    let floor = min(backgroundCost, foregroundCost)
                    backgroundCost -= floor
                    foregroundCost -= floor
                    graph.addTerminalWeights(node, source: backgroundCost, sink: foregroundCost)
                    for (dx, dy, weights) in links.backward {
                        let qx = x + dx, qy = y + dy
                        guard qx >= 0, qx < bw, qy >= 0 else { continue }
                        let w = weights[p]
                        graph.addEdge(node, qy * bw + qx, capacity: w, reverse: w)
                    }
                }
            }
        }
        graph.maxFlow()
        for y in 0..<bh {
            for x in 0..<bw { foreground[(box.y + y) * width + box.x + x] = graph.isSource(y * bw + x) }
        }
    }
}
