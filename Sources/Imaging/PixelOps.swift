/// Per-pixel helpers from Fooocus `modules/util.py`.
public enum PixelOps {
    /// Fooocus `HWC3`: always returns RGB. Gray is replicated into R, G and
    /// B; RGB is returned as is; RGBA is composited on white in float32,
    /// `c·(a/255) + 255·(1 − a/255)`, clipped to 0...255 and truncated.
    ///
    /// - Precondition: 1, 3 or 4 channels (Fooocus asserts on 2).
    public static func hwc3(_ image: Image) -> Image {
        precondition(image.isConsistent, "inconsistent image")
        switch image.channels {
        case 3:
            return image
        case 1:
            return image.converted(toChannels: 3)
        case 4:
            let count = image.width * image.height
            var out = [UInt8](repeating: 0, count: count * 3)
            compositeTable.withUnsafeBufferPointer { tableBuffer in
                image.pixels.withUnsafeBufferPointer { srcBuffer in
                    out.withUnsafeMutableBufferPointer { dstBuffer in
                        let table = tableBuffer.baseAddress!
                        let src = srcBuffer.baseAddress!
                        let dst = dstBuffer.baseAddress!
                        Parallel.forEachBand(count: count, costPerItem: 4) { band in
                            for i in band {
                                let s = src + i * 4
                                let row = table + Int(s[3]) * 256
                                let d = dst + i * 3
                                d[0] = row[Int(s[0])]
                                d[1] = row[Int(s[1])]
                                d[2] = row[Int(s[2])]
                            }
                        }
                    }
                }
            }
            return Image(width: image.width, height: image.height, channels: 3, pixels: out)
        default:
            preconditionFailure("HWC3 accepts 1, 3 or 4 channels, not \(image.channels)")
        }
    }

    /// The white composite of colour `c` at alpha `a`, at index `a·256 + c`,
    /// with numpy's float32 operation order.
    static let compositeTable: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 256 * 256)
        for a in 0..<256 {
            let alpha = Float(a) / Float(255)
            let background = Float(255) * (Float(1) - alpha)
            for c in 0..<256 {
                let y = Float(c) * alpha + background
                table[a * 256 + c] = UInt8(min(max(y, 0), 255))
            }
        }
        return table
    }()

    /// Fooocus `up255(x, t)`: 255 where a sample is greater than `threshold`,
    /// else 0. Applies to every channel.
    public static func up255(_ gray: Image, threshold: UInt8) -> Image {
        precondition(gray.isConsistent, "inconsistent image")
        var out = gray
        out.pixels.withUnsafeMutableBufferPointer { buffer in
            for i in buffer.indices { buffer[i] = buffer[i] > threshold ? 255 : 0 }
        }
        return out
    }
}
