import Foundation
@testable import Fooocus
import Imaging
import Testing

/// GrabCut's pieces: the colour mixture, k-means, and whole segmentations of synthetic images with a known answer.
@Suite("Segmentation: GrabCut")
struct SegmentationGrabCutTests {
    // MARK: - Colour mixture and clusters

    @Test func mixtureFitsMeansCovariancesAndWeights() {
        // Component 0: four colours around (10, 20, 30) varying only in red (±2); component 1: one colour.
        let colors: [Double] = [8, 20, 30, 12, 20, 30, 8, 20, 30, 12, 20, 30, 200, 100, 50]
        let labels: [UInt8] = [0, 0, 0, 0, 1]
        let mixture = colors.withUnsafeBufferPointer { c in labels.withUnsafeBufferPointer { ColorMixture(colors: c, components: $0) } }
        #expect(mixture.weights == [0.8, 0.2, 0, 0, 0])
        #expect(Array(mixture.means[0..<6]) == [10, 20, 30, 200, 100, 50])
        // Variance 4 in red and none elsewhere is singular: 0.01 is added to the diagonal.
        #expect(Array(mixture.covariances[0..<9]) == [4.01, 0, 0, 0, 0.01, 0, 0, 0, 0.01])
        #expect(Array(mixture.covariances[9..<18]) == [0.01, 0, 0, 0, 0.01, 0, 0, 0, 0.01])
        // The density at a mean is 1/√det: 1/√(4.01e-4) and 1/√1e-6.
        #expect(abs(mixture.density(0, 10, 20, 30) - 1 / (4.01e-4).squareRoot()) < 1e-9)
        #expect(abs(mixture.density(1, 200, 100, 50) - 1000) < 1e-9)
        #expect(mixture.density(2, 10, 20, 30) == 0)
        #expect(abs(mixture.likelihood(200, 100, 50) - (0.2 * 1000 + 0.8 * mixture.density(0, 200, 100, 50))) < 1e-9)
        #expect(mixture.likeliestComponent(11, 20, 30) == 0)
        #expect(mixture.likeliestComponent(199, 100, 50) == 1)
    }

    @Test func mixtureWithFullCovariance() {
        // Samples on a tilted ellipse: the density must follow the correlation, not just the axes.
        var colors: [Double] = []
        for t in stride(from: 0.0, to: 2 * Double.pi, by: 0.1) {
            colors += [100 + 30 * cos(t), 100 + 30 * cos(t) + 5 * sin(t), 100 + 5 * sin(t)]
        }
        let labels = [UInt8](repeating: 0, count: colors.count / 3)
        let mixture = colors.withUnsafeBufferPointer { c in labels.withUnsafeBufferPointer { ColorMixture(colors: c, components: $0) } }
        // Along the correlated direction (r and g together) the density falls far more slowly than across it.
        let along = mixture.density(0, 120, 120, 100)
        let across = mixture.density(0, 120, 80, 100)
        #expect(along > 1000 * across)
        #expect(mixture.likelihood(100, 100, 100) > mixture.likelihood(130, 100, 100))
    }

    @Test func clustersSeparateDistinctColoursDeterministically() {
        var random = SplitMix64(seed: 5)
        let centres: [[Double]] = [[20, 20, 200], [200, 30, 30], [30, 200, 30], [250, 250, 250], [0, 0, 0]]
        var colors: [Double] = []
        var truth: [Int] = []
        for i in 0..<500 {
            let c = i % 5
            truth.append(c)
            for d in 0..<3 { colors.append(centres[c][d] + Double(random.below(11)) - 5) }
        }
        let labels = colors.withUnsafeBufferPointer { ColorClusters.assign($0, k: 5, seed: 9) }
        // Each true cluster maps to exactly one label, and distinct clusters to distinct labels.
        var mapping: [Int: UInt8] = [:]
        for (i, label) in labels.enumerated() {
            if let known = mapping[truth[i]] { #expect(known == label) } else { mapping[truth[i]] = label }
        }
        #expect(Set(mapping.values).count == 5)
        let again = colors.withUnsafeBufferPointer { ColorClusters.assign($0, k: 5, seed: 9) }
        #expect(again == labels)
    }

    @Test func clustersWithFewerColoursThanClusters() {
        let colors: [Double] = [1, 2, 3, 1, 2, 3, 9, 9, 9]
        let labels = colors.withUnsafeBufferPointer { ColorClusters.assign($0, k: 5, seed: 1) }
        #expect(labels[0] == labels[1])
        #expect(labels[0] != labels[2])
        let none = [Double]().withUnsafeBufferPointer { ColorClusters.assign($0, k: 5, seed: 1) }
        #expect(none.isEmpty)
    }

    // MARK: - Whole segmentations

    /// A red disc on a noisy blue background (noise ±`noise` per channel), and the disc's own mask.
    static func disc(width: Int, height: Int, radius: Double, noise: Int = 40, seed: UInt64 = 3) -> (image: Image, truth: [Bool]) {
        var random = SplitMix64(seed: seed)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        var truth = [Bool](repeating: false, count: width * height)
        let cx = Double(width) / 2, cy = Double(height) / 2
        for y in 0..<height {
            for x in 0..<width {
                let inside = hypot(Double(x) + 0.5 - cx, Double(y) + 0.5 - cy) < radius
                truth[y * width + x] = inside
                let base: [Int] = inside ? [200, 40, 40] : [40, 60, 190]
                for c in 0..<3 {
                    let jitter = random.below(2 * noise + 1) - noise
                    pixels[(y * width + x) * 3 + c] = UInt8(clamping: base[c] + jitter)
                }
            }
        }
        return (Image(width: width, height: height, channels: 3, pixels: pixels), truth)
    }

    static func iou(_ a: [Bool], _ b: [Bool]) -> Double {
        let both = zip(a, b).filter { $0 && $1 }.count
        let either = zip(a, b).filter { $0 || $1 }.count
        return either == 0 ? 1 : Double(both) / Double(either)
    }

    @Test func grabCutFindsADiscOnNoise() {
        let (image, truth) = Self.disc(width: 96, height: 80, radius: 26)
        let grabCut = GrabCut(image, box: CentredBoxSegmentation.box(width: 96, height: 80))
        let labels = grabCut.segment()
        let iou = Self.iou(labels, truth)
        #expect(iou >= 0.95, "IoU \(iou)")
        #expect(grabCut.segment() == labels, "deterministic")
    }

    @Test func centredBoxMaskFindsADiscThroughTheWorkingCopy() {
        // Larger than the working size: downscaled to 320 × 240, cut, and scaled back.
        let (image, truth) = Self.disc(width: 400, height: 300, radius: 90, noise: 30)
        let mask = CentredBoxSegmentation.mask(image)
        #expect(mask.width == 400 && mask.height == 300 && mask.channels == 1)
        #expect(Set(mask.pixels).isSubset(of: [0, 255]))
        let iou = Self.iou(mask.pixels.map { $0 == 255 }, truth)
        #expect(iou >= 0.95, "IoU \(iou)")
    }

    @Test func nothingOutsideTheBoxMeansNoForeground() {
        let (image, _) = Self.disc(width: 20, height: 20, radius: 6)
        let whole = GrabCut(image, box: .init(x: 0, y: 0, width: 20, height: 20)).segment()
        #expect(!whole.contains(true))
        let empty = GrabCut(image, box: .init(x: 5, y: 5, width: 0, height: 4)).segment()
        #expect(!empty.contains(true))
    }

    @Test func tinyAndFlatImages() {
        for (w, h) in [(1, 1), (2, 2), (3, 1), (5, 4)] {
            let mask = CentredBoxSegmentation.mask(Image(width: w, height: h, channels: 3, fill: 128))
            #expect(mask.width == w && mask.height == h && mask.channels == 1)
        }
        // One flat colour everywhere: nothing distinguishes a foreground, and nothing crashes.
        let flat = CentredBoxSegmentation.mask(Image(width: 40, height: 30, channels: 4, fill: 90))
        #expect(flat.width == 40 && flat.height == 30)
        let gray = CentredBoxSegmentation.mask(Image(width: 40, height: 30, channels: 1, fill: 90))
        #expect(gray.width == 40)
    }

    @Test func boxAndWorkingSize() {
        #expect(CentredBoxSegmentation.box(width: 512, height: 512) == .init(x: 26, y: 26, width: 460, height: 460))
        #expect(CentredBoxSegmentation.box(width: 10, height: 4) == .init(x: 1, y: 1, width: 8, height: 2))
        #expect(CentredBoxSegmentation.workingSize(width: 1024, height: 768) == (320, 240))
        #expect(CentredBoxSegmentation.workingSize(width: 100, height: 3000) == (11, 320))
        #expect(CentredBoxSegmentation.workingSize(width: 320, height: 200) == (320, 200))
    }
}
