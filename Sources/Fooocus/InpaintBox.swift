import Imaging

/// The inpaint crop box of Fooocus's InpaintWorker (docs/fooocus.md §3.3 steps
/// 1–2): rows `a..<b`, columns `c..<d` (NumPy `x[a:b, c:d]`).
public struct InpaintBox: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// First row.
    public var a: Int
    /// One past the last row.
    public var b: Int
    /// First column.
    public var c: Int
    /// One past the last column.
    public var d: Int

    public init(a: Int, b: Int, c: Int, d: Int) {
        self.a = a
        self.b = b
        self.c = c
        self.d = d
    }

    /// Rows in the box, `b − a`.
    public var height: Int { b - a }
    /// Columns in the box, `d − c`.
    public var width: Int { d - c }

    public var description: String { "(\(a), \(b), \(c), \(d))" }

    /// `compute_initial_abcd(m > 0)`: the bounding rows/columns of the
    /// non-zero mask samples (any channel; soft values count), a square of
    /// half-side `l = int(max(abm, cdm) · 1.15)` (double multiply, then
    /// truncation) around their floored centre, clamped to the image.
    /// Nil when no sample is non-zero (Fooocus fails there).
    public static func initial(mask: Image) -> InpaintBox? {
        guard let bounds = nonZeroBounds(mask) else { return nil }
        let (top, bottom, left, right) = bounds
        let abp = (bottom + top) / 2
        let abm = (bottom - top) / 2
        let cdp = (right + left) / 2
        let cdm = (right - left) / 2
        let l = Int(Double(max(abm, cdm)) * 1.15)
        return InpaintBox(a: abp - l, b: abp + l + 1, c: cdp - l, d: cdp + l + 1)
            .clamped(height: mask.height, width: mask.width)
    }

    /// `solve_abcd(k)`: the box grown one row/column per side at a time
    /// until it covers at least `k·H` rows and `k·W` columns. The shorter
    /// axis grows (columns on a tie); an axis already spanning the image
    /// makes the other grow. `k == 1` is the whole image; `k == 0` the box
    /// itself.
    ///
    /// - Precondition: `0 ≤ k ≤ 1` (Fooocus asserts it), and the box lies in
    ///   a `height`×`width` image.
    public func grown(k: Double, height: Int, width: Int) -> InpaintBox {
        precondition(k >= 0 && k <= 1, "respective field \(k) outside [0, 1]")
        if k == 1 { return InpaintBox(a: 0, b: height, c: 0, d: width) }
        let needH = Double(height) * k
        let needW = Double(width) * k
        var box = self
        while !(Double(box.b - box.a) >= needH && Double(box.d - box.c) >= needW) {
            var addH = (box.b - box.a) < (box.d - box.c)
            var addW = !addH
            if box.b - box.a == height { addW = true }
            if box.d - box.c == width { addH = true }
            if addH { box.a -= 1; box.b += 1 }
            if addW { box.c -= 1; box.d += 1 }
            box = box.clamped(height: height, width: width)
        }
        return box
    }

    /// `regulate_abcd`: rows clamped to `[0, H]`, columns to `[0, W]`.
    func clamped(height: Int, width: Int) -> InpaintBox {
        InpaintBox(a: min(max(a, 0), height), b: min(max(b, 0), height),
                   c: min(max(c, 0), width), d: min(max(d, 0), width))
    }

    /// Inclusive (top, bottom, left, right) of the non-zero samples.
    static func nonZeroBounds(_ mask: Image) -> (Int, Int, Int, Int)? {
        let rowBytes = mask.width * mask.channels
        let ch = mask.channels
        var top = -1, bottom = -1, left = Int.max, right = -1
        mask.pixels.withUnsafeBufferPointer { buffer in
            for y in 0..<mask.height {
                let row = UnsafeBufferPointer(rebasing: buffer[y * rowBytes..<(y + 1) * rowBytes])
                guard let first = row.firstIndex(where: { $0 != 0 }) else { continue }
                let last = row.lastIndex(where: { $0 != 0 })!
                if top < 0 { top = y }
                bottom = y
                left = min(left, first / ch)
                right = max(right, last / ch)
            }
        }
        return top < 0 ? nil : (top, bottom, left, right)
    }
}
