import Foundation
@testable import Imaging

/// Deterministic SplitMix64, so failing cases reproduce.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random test images: noise mixed with flat 0/255 blocks and smooth ramps,
/// so saturation, sharp edges and soft regions all occur.
func randomImage(width: Int, height: Int, channels: Int, seed: UInt64) -> Image {
    var rng = SeededGenerator(seed: seed &* 7919 &+ UInt64(width * 131 + height * 17 + channels))
    var pixels = [UInt8](repeating: 0, count: width * height * channels)
    let style = Int(rng.next() % 3)
    for y in 0..<height {
        for x in 0..<width {
            for c in 0..<channels {
                let i = (y * width + x) * channels + c
                switch style {
                case 0: pixels[i] = UInt8.random(in: 0...255, using: &rng)
                case 1: pixels[i] = ((x / 3 + y / 2 + c) % 2 == 0) ? 255 : UInt8.random(in: 0...40, using: &rng)
                default: pixels[i] = UInt8(truncatingIfNeeded: x * 7 + y * 3 + c * 50) ^ UInt8(rng.next() % 4)
                }
            }
        }
    }
    return Image(width: width, height: height, channels: channels, pixels: pixels)
}

/// Slow, literal transcriptions of the formulas in docs/fooocus.md §3.0, one
/// pixel at a time, used to check the fast implementations byte for byte.
enum Reference {
    // MARK: LANCZOS

    static func lanczosWeight(_ t: Double) -> Double {
        func sinc(_ v: Double) -> Double { v == 0 ? 1 : sin(v * Double.pi) / (v * Double.pi) }
        return (-3 <= t && t < 3) ? sinc(t) * sinc(t / 3) : 0
    }

    /// (first input index, quantised weights) for output index `xx`.
    static func lanczosTaps(inSize: Int, outSize: Int, index xx: Int) -> (Int, [Int]) {
        let scale = Double(inSize) / Double(outSize)
        let fs = max(scale, 1)
        let support = 3 * fs
        let center = (Double(xx) + 0.5) * scale
        let xmin = max(0, Int(center - support + 0.5))
        let xmax = min(inSize, Int(center + support + 0.5))
        let ss = 1.0 / fs
        var ws: [Double] = []
        for x in xmin..<max(xmin, xmax) { ws.append(lanczosWeight((Double(x) - center + 0.5) * ss)) }
        let total = ws.reduce(0, +)
        if total != 0 { ws = ws.map { $0 / total } }
        let q = ws.map { w in w >= 0 ? Int(w * 4_194_304 + 0.5) : Int(w * 4_194_304 - 0.5) }
        return (xmin, q)
    }

    static func lanczos(_ image: Image, width: Int, height: Int) -> Image {
        if width == image.width && height == image.height { return image }
        var im = image
        let ch = image.channels
        if image.hasAlpha {
            for i in 0..<(im.width * im.height) {
                let a = Int(im.pixels[i * ch + ch - 1])
                for c in 0..<(ch - 1) {
                    let t = Int(im.pixels[i * ch + c]) * a + 128
                    im.pixels[i * ch + c] = UInt8(((t >> 8) + t) >> 8)
                }
            }
        }
        func clamp8(_ s: Int) -> UInt8 { UInt8(min(255, max(0, ((1 << 21) + s) >> 22))) }
        if width != im.width {
            var out = Image(width: width, height: im.height, channels: ch)
            for x in 0..<width {
                let (x0, ws) = lanczosTaps(inSize: im.width, outSize: width, index: x)
                for y in 0..<im.height {
                    for c in 0..<ch {
                        var s = 0
                        for (k, w) in ws.enumerated() { s += Int(im.pixel(x: x0 + k, y: y, channel: c)) * w }
                        out.pixels[(y * width + x) * ch + c] = clamp8(s)
                    }
                }
            }
            im = out
        }
        if height != im.height {
            var out = Image(width: im.width, height: height, channels: ch)
            for y in 0..<height {
                let (y0, ws) = lanczosTaps(inSize: im.height, outSize: height, index: y)
                for x in 0..<im.width {
                    for c in 0..<ch {
                        var s = 0
                        for (k, w) in ws.enumerated() { s += Int(im.pixel(x: x, y: y0 + k, channel: c)) * w }
                        out.pixels[(y * im.width + x) * ch + c] = clamp8(s)
                    }
                }
            }
            im = out
        }
        if image.hasAlpha {
            for i in 0..<(im.width * im.height) {
                let a = Int(im.pixels[i * ch + ch - 1])
                if a == 0 || a == 255 { continue }
                for c in 0..<(ch - 1) { im.pixels[i * ch + c] = UInt8(min(255, 255 * Int(im.pixels[i * ch + c]) / a)) }
            }
        }
        return im
    }

    // MARK: Box blur

    /// One pass along a line of samples.
    static func boxLine(_ line: [Int], _ r: Int) -> [UInt8] {
        let n = line.count
        let ww = (1 << 24) / (2 * r + 1)
        let fw = ((1 << 24) - (2 * r + 1) * ww) / 2
        func p(_ i: Int) -> Int { line[min(max(i, 0), n - 1)] }
        return (0..<n).map { x in
            var acc = 0
            for i in (x - r)...(x + r) { acc += p(i) }
            return UInt8((acc * ww + (p(x - r - 1) + p(x + r + 1)) * fw + (1 << 23)) >> 24)
        }
    }

    static func boxBlur(_ image: Image, radius r: Int) -> Image {
        if r == 0 { return image }
        let (w, h, ch) = (image.width, image.height, image.channels)
        var mid = image.pixels
        for y in 0..<h {
            for c in 0..<ch {
                let line = boxLine((0..<w).map { Int(image.pixels[(y * w + $0) * ch + c]) }, r)
                for x in 0..<w { mid[(y * w + x) * ch + c] = line[x] }
            }
        }
        var out = mid
        for x in 0..<w {
            for c in 0..<ch {
                let line = boxLine((0..<h).map { Int(mid[($0 * w + x) * ch + c]) }, r)
                for y in 0..<h { out[(y * w + x) * ch + c] = line[y] }
            }
        }
        return Image(width: w, height: h, channels: ch, pixels: out)
    }

    // MARK: Morphology

    /// Max (dilate) or min (erode) over the (2k+1)² window clipped to the image.
    static func morph(_ image: Image, k: Int, dilate: Bool) -> Image {
        let (w, h, ch) = (image.width, image.height, image.channels)
        let src = image.pixels
        var out = src
        for y in 0..<h {
            for x in 0..<w {
                for c in 0..<ch {
                    var v: UInt8 = dilate ? 0 : 255
                    for yy in max(0, y - k)...min(h - 1, y + k) {
                        for xx in max(0, x - k)...min(w - 1, x + k) {
                            let s = src[(yy * w + xx) * ch + c]
                            v = dilate ? max(v, s) : min(v, s)
                        }
                    }
                    out[(y * w + x) * ch + c] = v
                }
            }
        }
        return Image(width: w, height: h, channels: ch, pixels: out)
    }

    // MARK: Pixel ops

    static func hwc3(_ image: Image) -> Image {
        let n = image.width * image.height
        var out = [UInt8](repeating: 0, count: n * 3)
        for i in 0..<n {
            for c in 0..<3 {
                switch image.channels {
                case 1: out[i * 3 + c] = image.pixels[i]
                case 3: out[i * 3 + c] = image.pixels[i * 3 + c]
                default:
                    let color = Float(image.pixels[i * 4 + c])
                    let alpha: Float = Float(image.pixels[i * 4 + 3]) / 255
                    let y: Float = color * alpha + 255 * (1 - alpha)
                    out[i * 3 + c] = UInt8(Swift.min(Swift.max(y, 0), 255))
                }
            }
        }
        return Image(width: image.width, height: image.height, channels: 3, pixels: out)
    }
}

/// Index of the first differing byte, or nil when equal.
func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> Int? {
    if a.count != b.count { return min(a.count, b.count) }
    for i in a.indices where a[i] != b[i] { return i }
    return nil
}
