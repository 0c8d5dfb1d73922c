/// How ``Image/padded(top:bottom:left:right:mode:)`` fills the new border.
public enum PadMode: Sendable, Equatable {
    /// Replicate the nearest edge pixel, like `numpy.pad(mode="edge")`:
    /// new rows copy the first/last row, new columns the first/last column,
    /// and corners take the corner pixel.
    case edge
    /// Fill every new sample (all channels) with the given value, like
    /// `numpy.pad(mode="constant", constant_values=v)`.
    case constant(UInt8)
}

extension Image {
    /// Returns the `width`×`height` rectangle whose top-left corner is
    /// (`x`, `y`), i.e. numpy `a[y:y+height, x:x+width]`.
    ///
    /// - Precondition: the rectangle lies inside the image and its sides are
    ///   non-negative.
    public func cropped(x: Int, y: Int, width: Int, height: Int) -> Image {
        precondition(isConsistent, "inconsistent image")
        precondition(x >= 0 && y >= 0 && width >= 0 && height >= 0
                     && x + width <= self.width && y + height <= self.height,
                     "crop \(x),\(y) \(width)×\(height) outside \(self.width)×\(self.height)")
        if x == 0 && y == 0 && width == self.width && height == self.height { return self }
        let ch = channels
        let rowBytes = width * ch
        var out = [UInt8](repeating: 0, count: rowBytes * height)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for row in 0..<height {
                    let s = ((y + row) * self.width + x) * ch
                    for i in 0..<rowBytes { dst[row * rowBytes + i] = src[s + i] }
                }
            }
        }
        return Image(width: width, height: height, channels: ch, pixels: out)
    }

    /// Overwrites the pixels under `other`, placed with its top-left corner at
    /// (`x`, `y`), i.e. numpy `a[y:y+h, x:x+w] = other`.
    ///
    /// - Precondition: same channel count, and `other` fits entirely inside.
    public mutating func paste(_ other: Image, x: Int, y: Int) {
        precondition(isConsistent && other.isConsistent, "inconsistent image")
        precondition(other.channels == channels, "paste needs equal channel counts")
        precondition(x >= 0 && y >= 0 && x + other.width <= width && y + other.height <= height,
                     "paste of \(other.width)×\(other.height) at \(x),\(y) outside \(width)×\(height)")
        let ch = channels
        let rowBytes = other.width * ch
        let fullWidth = width
        other.pixels.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for row in 0..<other.height {
                    let d = ((y + row) * fullWidth + x) * ch
                    for i in 0..<rowBytes { dst[d + i] = src[row * rowBytes + i] }
                }
            }
        }
    }

    /// Returns the image grown by the given number of pixels on each side,
    /// the border filled as `mode` says (numpy `pad` with `edge` or
    /// `constant`).
    ///
    /// - Precondition: all amounts are non-negative; `.edge` needs a
    ///   non-empty image unless nothing is added.
    public func padded(top: Int, bottom: Int, left: Int, right: Int, mode: PadMode) -> Image {
        precondition(isConsistent, "inconsistent image")
        precondition(top >= 0 && bottom >= 0 && left >= 0 && right >= 0, "negative padding")
        if top == 0 && bottom == 0 && left == 0 && right == 0 { return self }
        let ch = channels
        let outW = width + left + right
        let outH = height + top + bottom
        if case .constant(let value) = mode {
            var out = Image(width: outW, height: outH, channels: ch, fill: value)
            out.paste(self, x: left, y: top)
            return out
        }
        precondition(width > 0 && height > 0, "edge padding needs a non-empty image")
        var out = [UInt8](repeating: 0, count: outW * outH * ch)
        let inW = width
        let inH = height
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for oy in 0..<outH {
                    let sy = min(max(oy - top, 0), inH - 1)
                    let srcRow = sy * inW * ch
                    let dstRow = oy * outW * ch
                    for ox in 0..<outW {
                        let sx = min(max(ox - left, 0), inW - 1)
                        for c in 0..<ch { dst[dstRow + ox * ch + c] = src[srcRow + sx * ch + c] }
                    }
                }
            }
        }
        return Image(width: outW, height: outH, channels: ch, pixels: out)
    }

    /// Returns channel `index` as a one-channel (gray) image, like numpy
    /// `a[:, :, index]`.
    ///
    /// - Precondition: `0 <= index < channels`.
    public func channel(_ index: Int) -> Image {
        precondition(isConsistent, "inconsistent image")
        precondition(index >= 0 && index < channels, "channel \(index) of a \(channels)-channel image")
        if channels == 1 { return self }
        let count = width * height
        let ch = channels
        var out = [UInt8](repeating: 0, count: count)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count { dst[i] = src[i * ch + index] }
            }
        }
        return Image(width: width, height: height, channels: 1, pixels: out)
    }

    /// The sample at (`x`, `y`) in `channel`.
    ///
    /// - Precondition: the coordinates and channel are in range.
    @inlinable
    public func pixel(x: Int, y: Int, channel: Int) -> UInt8 {
        precondition(x >= 0 && x < width && y >= 0 && y < height && channel >= 0 && channel < channels,
                     "pixel (\(x), \(y)) channel \(channel) outside \(width)×\(height)×\(channels)")
        return pixels[(y * width + x) * channels + channel]
    }
}
