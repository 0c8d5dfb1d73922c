import Dispatch
import Foundation

/// Splits independent work (rows or column strips of an image) over the
/// machine's cores. Every caller computes each output element from the input
/// alone, so results are bit-identical however the range is cut.
enum Parallel {
    /// Threads to use: the active core count, or `GANTRY_IMAGING_THREADS`
    /// when set (1 turns parallelism off, e.g. for benchmarks). Read once.
    static let cores: Int = {
        if let text = ProcessInfo.processInfo.environment["GANTRY_IMAGING_THREADS"], let n = Int(text), n > 0 {
            return n
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Below this many samples of work a call stays on the calling thread:
    /// dispatching costs more than it saves.
    static let minimumParallelWork = 1 << 15

    /// Calls `body` with disjoint ranges that together cover `0..<count`,
    /// concurrently when `count * costPerItem` is large enough. `body` must
    /// only write state owned by its range.
    static func forEachBand(count: Int, costPerItem: Int, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let total = count.multipliedReportingOverflow(by: max(1, costPerItem))
        if cores == 1 || count == 1 || (!total.overflow && total.partialValue < minimumParallelWork) {
            body(0..<count)
            return
        }
        // A few bands per core evens out uneven bands and busy cores.
        let bands = min(count, cores * 4)
        // Bands write disjoint memory and the call returns only after all of
        // them finish, so sharing the non-Sendable body is safe here.
        withoutActuallyEscaping(body) { escapable in
            nonisolated(unsafe) let work = escapable
            DispatchQueue.concurrentPerform(iterations: bands) { band in
                let lower = count * band / bands
                let upper = count * (band + 1) / bands
                if lower < upper { work(lower..<upper) }
            }
        }
    }
}

extension Image {
    /// An image whose pixel buffer `fill` writes completely, without first
    /// zeroing it (the fast paths overwrite every byte).
    static func build(width: Int, height: Int, channels: Int,
                      _ fill: (UnsafeMutablePointer<UInt8>) -> Void) -> Image {
        let count = width * height * channels
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = buffer.baseAddress, count > 0 { fill(base) }
            initialized = count
        }
        return Image(width: width, height: height, channels: channels, pixels: pixels)
    }
}
