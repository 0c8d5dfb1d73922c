/// OpenCV-identical grayscale morphology with a 3×3 square of ones.
public enum Morphology {
    /// `cv2.dilate(image, np.ones((3, 3)), iterations=iterations)`: each
    /// output sample is the maximum over the `(2k+1)²` window around it,
    /// clipped to the image (outside pixels are ignored). Works per channel,
    /// so soft masks stay soft. Iterations 0 returns the image unchanged.
    ///
    /// - Precondition: `iterations >= 0` and the image is consistent.
    public static func dilate(_ gray: Image, iterations: Int) -> Image {
        precondition(iterations >= 0, "iterations must be >= 0")
        return windowExtreme(gray, radius: iterations, MaxOperation.self)
    }

    /// `cv2.erode(image, np.ones((3, 3)), iterations=iterations)`: the
    /// minimum over the clipped `(2k+1)²` window. Iterations 0 returns the
    /// image unchanged.
    ///
    /// - Precondition: `iterations >= 0` and the image is consistent.
    public static func erode(_ gray: Image, iterations: Int) -> Image {
        precondition(iterations >= 0, "iterations must be >= 0")
        return windowExtreme(gray, radius: iterations, MinOperation.self)
    }

    /// Fooocus `erode_or_dilate(mask, k)`: dilate `k` times when `k > 0`,
    /// erode `-k` times when `k < 0`, unchanged when 0.
    public static func erodeOrDilate(_ gray: Image, k: Int) -> Image {
        if k > 0 { return dilate(gray, iterations: k) }
        if k < 0 { return erode(gray, iterations: -k) }
        return gray
    }

    /// Max (or min) over the square window, computed separably (the
    /// square's extreme is the extreme over its rows of each row's extreme)
    /// and one vertical strip of columns at a time: a strip's horizontal
    /// results go straight into a cache-sized column buffer, with identity
    /// rows standing for the outside above and below, and its vertical pass
    /// writes the output. Strips are independent, so they run in parallel.
    static func windowExtreme<Op: ExtremeOperation>(_ image: Image, radius: Int, _ op: Op.Type) -> Image {
        precondition(image.isConsistent, "inconsistent image")
        // A window reaching past the far edge of the image covers it all.
        let rx = min(radius, max(image.width - 1, 0))
        let ry = min(radius, max(image.height - 1, 0))
        if rx == 0 && ry == 0 { return image }
        let (w, h, ch) = (image.width, image.height, image.channels)
        let rowBytes = w * ch
        let halo = rx * ch
        // ~256 bytes per strip keeps the column buffers in L2; wider strips
        // for wide windows keep the horizontal halo overhead bounded.
        let stripPixels = min(w, max(256 / ch, 2 * rx))
        let strips = (w + stripPixels - 1) / stripPixels
        let stripBytes = stripPixels * ch
        let segmentBytes = stripBytes + 2 * halo
        let columnBytes = (h + 2 * ry) * stripBytes
        return Image.build(width: w, height: h, channels: ch) { dst in
            image.pixels.withUnsafeBufferPointer { srcBuffer in
                let src = srcBuffer.baseAddress!
                Parallel.forEachBand(count: strips, costPerItem: stripBytes * h * 8) { band in
                    let segmentA = UnsafeMutablePointer<UInt8>.allocate(capacity: segmentBytes)
                    let segmentB = UnsafeMutablePointer<UInt8>.allocate(capacity: segmentBytes)
                    let columnA = UnsafeMutablePointer<UInt8>.allocate(capacity: columnBytes)
                    let columnB = UnsafeMutablePointer<UInt8>.allocate(capacity: columnBytes)
                    defer { segmentA.deallocate(); segmentB.deallocate(); columnA.deallocate(); columnB.deallocate() }
                    for strip in band {
                        let lo = strip * stripBytes
                        let n = min(stripBytes, rowBytes - lo)
                        columnA.initialize(repeating: Op.identity, count: ry * n)
                        (columnA + (h + ry) * n).initialize(repeating: Op.identity, count: ry * n)
                        for y in 0..<h {
                            let line = src + y * rowBytes
                            let row = columnA + (y + ry) * n
                            if rx == 0 {
                                row.update(from: line + lo, count: n)
                                continue
                            }
                            // Bytes [lo - halo, lo + n + halo) of the row, identity outside it.
                            var input = UnsafePointer(line + lo - halo)
                            if lo < halo || lo + n + halo > rowBytes {
                                let head = max(0, halo - lo)
                                let tail = max(0, lo + n + halo - rowBytes)
                                let length = n + 2 * halo
                                segmentB.initialize(repeating: Op.identity, count: head)
                                (segmentB + head).update(from: line + lo - halo + head, count: length - head - tail)
                                (segmentB + length - tail).initialize(repeating: Op.identity, count: tail)
                                input = UnsafePointer(segmentB)
                            }
                            let (spans, offset) = doubling(input, segmentA, segmentB, bytes: n + 2 * halo,
                                                           stride: ch, radius: rx, op)
                            combine(spans, spans + offset, into: row, count: n, op)
                        }
                        if ry == 0 {
                            for y in 0..<h { (dst + y * rowBytes + lo).update(from: columnA + y * n, count: n) }
                            continue
                        }
                        let (spans, offset) = doubling(UnsafePointer(columnA), columnB, columnA,
                                                       bytes: (h + 2 * ry) * n, stride: n, radius: ry, op)
                        for y in 0..<h {
                            combine(spans + y * n, spans + y * n + offset, into: dst + y * rowBytes + lo, count: n, op)
                        }
                    }
                }
            }
        }
    }

    /// The doubling steps of a sliding extreme over `bytes` bytes of
    /// elements `stride` bytes apart, `input` padded with `radius` identity
    /// elements at either end. After the step for span `q`, element `j` holds
    /// the extreme of elements `[j, j + 2q)`. Returns the buffer with the
    /// largest power-of-two span `p <= 2r+1` and the byte offset of the
    /// second span: the window of output element `j` is covered by the spans
    /// at `j` and `j + (2r+1-p)`. Alternates between `first` and `second`
    /// (`input` may be `second`: it is read only by the first step).
    @inline(__always)
    static func doubling<Op: ExtremeOperation>(
        _ input: UnsafePointer<UInt8>, _ first: UnsafeMutablePointer<UInt8>, _ second: UnsafeMutablePointer<UInt8>,
        bytes: Int, stride: Int, radius: Int, _ op: Op.Type
    ) -> (UnsafePointer<UInt8>, Int) {
        let window = 2 * radius + 1
        var source = input
        var destination = first
        var spare = second
        var valid = bytes
        var span = 1
        while span * 2 <= window {
            valid -= span * stride
            combine(source, source + span * stride, into: destination, count: valid, op)
            source = UnsafePointer(destination)
            swap(&destination, &spare)
            span *= 2
        }
        return (source, (window - span) * stride)
    }

    /// `target[i] = op(a[i], b[i])`; `target` may equal neither `a` nor `b`
    /// unless it lies entirely before them.
    @inline(__always)
    static func combine<Op: ExtremeOperation>(
        _ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, into target: UnsafeMutablePointer<UInt8>,
        count: Int, _ op: Op.Type
    ) {
        var i = 0
        while i &+ 16 <= count {
            let x = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<UInt8>.self)
            let y = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<UInt8>.self)
            UnsafeMutableRawPointer(target + i).storeBytes(of: Op.combine(x, y), as: SIMD16<UInt8>.self)
            i &+= 16
        }
        while i < count {
            target[i] = Op.combine(a[i], b[i])
            i &+= 1
        }
    }
}

/// The associative, idempotent operation a morphology window folds with.
protocol ExtremeOperation {
    /// The value that never wins (stands in for pixels outside the image).
    static var identity: UInt8 { get }
    static func combine(_ a: UInt8, _ b: UInt8) -> UInt8
    static func combine(_ a: SIMD16<UInt8>, _ b: SIMD16<UInt8>) -> SIMD16<UInt8>
}

enum MaxOperation: ExtremeOperation {
    static var identity: UInt8 { 0 }
    @inline(__always) static func combine(_ a: UInt8, _ b: UInt8) -> UInt8 { max(a, b) }
    @inline(__always) static func combine(_ a: SIMD16<UInt8>, _ b: SIMD16<UInt8>) -> SIMD16<UInt8> {
        a.replacing(with: b, where: b .> a)
    }
}

enum MinOperation: ExtremeOperation {
    static var identity: UInt8 { 255 }
    @inline(__always) static func combine(_ a: UInt8, _ b: UInt8) -> UInt8 { min(a, b) }
    @inline(__always) static func combine(_ a: SIMD16<UInt8>, _ b: SIMD16<UInt8>) -> SIMD16<UInt8> {
        a.replacing(with: b, where: b .< a)
    }
}
