import Imaging

/// Where the repaint pixels of a working mask lie, precomputed once for the
/// 60 blur passes of ``InpaintFill``: per-row column spans, a per-sample
/// select mask, and per-strip row ranges. The blur passes only compute what
/// the hole pixels read.
struct HoleLayout {
    let width: Int
    let height: Int
    let channels: Int
    /// Inclusive first/last hole column of each row; `lo > hi` when none.
    let rowLo: [Int]
    let rowHi: [Int]
    /// 0xFF at every sample of a hole pixel, 0 elsewhere (H×W×C).
    let select: [UInt8]
    /// First and last rows holding a hole pixel; nil when there is none.
    let rows: ClosedRange<Int>?
    /// Column strips of the vertical pass, in samples (`x·C + channel`).
    let stripWidth: Int
    /// Inclusive hole rows of each strip; `lower > upper` when none.
    let stripRows: [(lower: Int, upper: Int)]

    /// `hole = mask ≥ 127`, the complement of Fooocus's `keep = mask < 127`.
    init(mask: Image, channels: Int, stripWidth: Int = 192) {
        width = mask.width
        height = mask.height
        self.channels = channels
        self.stripWidth = stripWidth
        let rowSamples = width * channels
        var lo = [Int](repeating: Int.max, count: height)
        var hi = [Int](repeating: -1, count: height)
        var select = [UInt8](repeating: 0, count: width * height * channels)
        let strips = (rowSamples + stripWidth - 1) / stripWidth
        var stripRows = [(lower: Int, upper: Int)](repeating: (Int.max, -1), count: strips)
        var first = -1, last = -1
        let (width, height) = (mask.width, mask.height)
        mask.pixels.withUnsafeBufferPointer { m in
            select.withUnsafeMutableBufferPointer { s in
                for y in 0..<height {
                    for x in 0..<width where m[y * width + x] >= 127 {
                        lo[y] = min(lo[y], x)
                        hi[y] = x
                        for c in 0..<channels { s[(y * width + x) * channels + c] = 0xFF }
                        let strip0 = x * channels / stripWidth
                        let strip1 = (x * channels + channels - 1) / stripWidth
                        for strip in strip0...strip1 {
                            stripRows[strip].lower = min(stripRows[strip].lower, y)
                            stripRows[strip].upper = y
                        }
                    }
                    if hi[y] >= 0 {
                        if first < 0 { first = y }
                        last = y
                    }
                }
            }
        }
        rowLo = lo
        rowHi = hi
        self.select = select
        self.stripRows = stripRows
        rows = first < 0 ? nil : first...last
    }

    /// For a blur of `radius`, the column span (inclusive pixels) whose
    /// horizontal blur must be computed in each row: the union of the hole
    /// spans of every row within `radius + 1` — exactly the rows the vertical
    /// pass reads for some hole pixel. Rows needing nothing get `lo > hi`.
    func horizontalSpans(radius: Int) -> (lo: [Int], hi: [Int]) {
        let reach = radius + 1
        let minTable = SparseTable(rowLo, combine: min)
        let maxTable = SparseTable(rowHi, combine: max)
        var lo = [Int](repeating: Int.max, count: height)
        var hi = [Int](repeating: -1, count: height)
        guard let rows else { return (lo, hi) }
        let first = max(0, rows.lowerBound - reach)
        let last = min(height - 1, rows.upperBound + reach)
        for y in first...last {
            let window = max(0, y - reach)...min(height - 1, y + reach)
            lo[y] = minTable.query(window)
            hi[y] = maxTable.query(window)
        }
        return (lo, hi)
    }
}

/// O(1) range queries of an idempotent operation (min or max) after an
/// O(n log n) build.
struct SparseTable {
    private var levels: [[Int]]
    private let combine: (Int, Int) -> Int

    init(_ values: [Int], combine: @escaping (Int, Int) -> Int) {
        self.combine = combine
        levels = [values]
        var span = 1
        while span * 2 <= values.count {
            let previous = levels[levels.count - 1]
            var next = [Int](repeating: 0, count: values.count - span * 2 + 1)
            for i in next.indices { next[i] = combine(previous[i], previous[i + span]) }
            levels.append(next)
            span *= 2
        }
    }

    func query(_ range: ClosedRange<Int>) -> Int {
        let length = range.count
        let level = Int.bitWidth - 1 - length.leadingZeroBitCount
        let row = levels[level]
        return combine(row[range.lowerBound], row[range.upperBound - (1 << level) + 1])
    }
}
