// The coarsest level's initialisation for ``PatchSynthesis``.
extension PatchSynthesis {
    /// Exemplar-based completion of the coarsest level, in the manner of
    /// Criminisi et al. (2004) with the confidence term as the priority:
    /// repeatedly, the boundary pixel whose window is most confidently known
    /// has that window compared with every valid source patch (filled pixels
    /// weigh 1; not yet filled ones, still holding the initial fill, weigh
    /// `priorWeight`), and the window's unfilled pixels are copied from the
    /// best one. The hole thus closes from its boundary inwards with real
    /// content, carrying structures (slats, fences, edges) into it, instead of
    /// the EM starting from the blur of the initial fill. The seed chooses
    /// among the `choices` best sources within `choiceSlack` of the best, so
    /// seeds give different completions. Sequential; priority ties are broken
    /// by pixel index, so it is deterministic. Seeds the field of the
    /// hole's targets with the copied positions.
    func exemplarFill(_ level: Level, salt: Int) {
        let (w, h, r) = (level.width, level.height, level.radius)
        let n = w * h
        let sources = level.validList
        if sources.isEmpty { return }
        var filled = level.hole.map { $0 == 0 }
        var confidence = level.hole.map { $0 == 0 ? Float(1) : 0 }
        var weight = level.hole.map { $0 == 0 ? Float(1) : options.priorWeight }
        var assigned = [Int32](repeating: -1, count: n)
        var version = [Int32](repeating: 0, count: n)
        var rng = SplitMix64.derived(seed, 4, salt)
        // About one search per third of a window of hole pixels.
        let holeCount = level.hole.reduce(0) { $0 + Int($1) }
        let searches = max(1, holeCount * 3 / ((2 * r + 1) * (2 * r + 1)))
        let stride = max(1, (searches * sources.count + options.exemplarBudget - 1) / options.exemplarBudget)

        let candidates = max(1, options.choices)

        func window(_ p: Int) -> (ClosedRange<Int>, ClosedRange<Int>) {
            let py = p / w, px = p - py * w
            return (max(-r, -py)...min(r, h - 1 - py), max(-r, -px)...min(r, w - 1 - px))
        }
        func meanConfidence(_ p: Int) -> Float {
            let (rows, cols) = window(p)
            var c: Float = 0
            for dy in rows { for dx in cols { c += confidence[p + dy * w + dx] } }
            return c / Float(rows.count * cols.count)
        }
        func isFront(_ p: Int) -> Bool {
            if filled[p] { return false }
            let py = p / w, px = p - py * w
            for dy in -1...1 where py + dy >= 0 && py + dy < h {
                for dx in -1...1 where px + dx >= 0 && px + dx < w && filled[p + dy * w + dx] { return true }
            }
            return false
        }

        // A binary max-heap of (priority, pixel, version); outdated entries are skipped.
        typealias Entry = (priority: Float, pixel: Int32, version: Int32)
        var heap: [Entry] = []
        func above(_ a: Entry, _ b: Entry) -> Bool {
            a.priority > b.priority || (a.priority == b.priority && a.pixel < b.pixel)
        }
        func push(_ e: Entry) {
            heap.append(e)
            var i = heap.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                if !above(heap[i], heap[parent]) { break }
                heap.swapAt(i, parent)
                i = parent
            }
        }
        func pop() -> Entry {
            let top = heap[0]
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                var i = 0
                while true {
                    let (left, right) = (2 * i + 1, 2 * i + 2)
                    var m = i
                    if left < heap.count && above(heap[left], heap[m]) { m = left }
                    if right < heap.count && above(heap[right], heap[m]) { m = right }
                    if m == i { break }
                    heap.swapAt(i, m)
                    i = m
                }
            }
            return top
        }
        for p in 0..<n where isFront(p) { push((meanConfidence(p), Int32(p), 0)) }

        level.pixels.withUnsafeMutableBufferPointer { imgBuffer in
            let img = imgBuffer.baseAddress!
            while !heap.isEmpty {
                let entry = pop()
                let p = Int(entry.pixel)
                if filled[p] || version[p] != entry.version { continue }
                // The few best sources (ascending); the seed picks among those close to the best.
                var top = [(distance: Float, source: Int)](repeating: (.infinity, -1), count: candidates)
                weight.withUnsafeBufferPointer { weights in
                    let wt = weights.baseAddress!
                    var j = stride == 1 ? 0 : rng.below(min(stride, sources.count))
                    while j < sources.count {
                        let s = Int(sources[j])
                        let d = Self.weightedDistance(img, wt, width: w, height: h, radius: r,
                                                      target: p, source: s, limit: top[candidates - 1].distance)
                        if d < top[candidates - 1].distance {
                            var i = candidates - 1
                            while i > 0 && top[i - 1].distance > d { top[i] = top[i - 1]; i -= 1 }
                            top[i] = (d, s)
                        }
                        j += stride
                    }
                }
                var eligible = 1
                while eligible < candidates && top[eligible].source >= 0
                    && top[eligible].distance <= top[0].distance * (1 + options.choiceSlack) { eligible += 1 }
                let bestSource = top[eligible == 1 ? 0 : rng.below(eligible)].source
                // Copy the window's unfilled pixels; they take the window's confidence.
                let fresh = meanConfidence(p)
                let (rows, cols) = window(p)
                for dy in rows {
                    for dx in cols {
                        let q = p + dy * w + dx
                        if filled[q] { continue }
                        let s = bestSource + dy * w + dx
                        img[q] = img[s]
                        filled[q] = true
                        confidence[q] = fresh
                        weight[q] = 1
                        assigned[q] = Int32(s)
                    }
                }
                // New priorities on the boundary around the copied window.
                let py = p / w, px = p - py * w
                let reach = r + 1
                for dy in max(-reach, -py)...min(reach, h - 1 - py) {
                    for dx in max(-reach, -px)...min(reach, w - 1 - px) {
                        let q = p + dy * w + dx
                        if isFront(q) {
                            version[q] &+= 1
                            push((meanConfidence(q), Int32(q), version[q]))
                        }
                    }
                }
            }
        }
        // Seed the field: a hole target takes its pixel's copied source where that is a valid centre.
        for k in 0..<level.targets.count {
            let a = assigned[Int(level.targets[k])]
            if a >= 0 && level.valid[Int(a)] != 0 { level.field[k] = a }
        }
    }

    /// ``patchDistance(_:width:height:radius:target:source:limit:)`` with a weight per target pixel.
    @inline(__always)
    static func weightedDistance(_ img: UnsafePointer<SIMD4<Float>>, _ weight: UnsafePointer<Float>, width w: Int,
                                 height h: Int, radius r: Int, target q: Int, source s: Int, limit: Float) -> Float {
        let qy = q / w, qx = q - qy * w
        let x0 = max(-r, -qx), x1 = min(r, w - 1 - qx)
        let y0 = max(-r, -qy), y1 = min(r, h - 1 - qy)
        var sum: Float = 0
        var dy = y0
        while dy <= y1 {
            let t = img + (q + dy * w)
            let u = img + (s + dy * w)
            let tw = weight + (q + dy * w)
            var acc = SIMD4<Float>.zero
            var dx = x0
            while dx <= x1 {
                let d = t[dx] - u[dx]
                acc += tw[dx] * (d * d)
                dx += 1
            }
            sum += acc.sum()
            if sum >= limit { return sum }
            dy += 1
        }
        return sum
    }
}
