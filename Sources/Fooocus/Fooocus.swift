// The deterministic stages of the Fooocus inpaint / outpaint / upscale
// pipeline (docs/fooocus.md §3), each a pure function on `Imaging.Image` that is
// bit-exact with Fooocus 2.5.x's Python (Pillow, OpenCV, NumPy):
//
// - ``ShapeCeil``: `get_shape_ceil` / `set_image_shape_ceil` sizing.
// - ``MaskPreparation``: mask channel pick, uploaded-mask union, erode/dilate,
//   invert, HWC3 of the image (`apply_image_input`).
// - ``OutpaintExpansion``: edge / 255 canvas padding (`apply_outpaint`).
// - ``InpaintBox``: the crop box (`compute_initial_abcd`, `solve_abcd`).
// - ``InpaintFill``: the 60-pass box-blur fill (`fooocus_fill`).
// - ``BlendMask``: the feathered blend mask (`morphological_open`).
// - ``InpaintPreparation``: the whole InpaintWorker, steps 1–8 and 10.
// - ``UpscaleSizing`` / ``VarySizing``: output sizes of upscale and vary.
//
// The neural parts (ESRGAN, VAE, sampling) are not here; ESRGAN is an
// injected ``Upscaler``.
import Dispatch
import Imaging
#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// Why a Fooocus stage refused its input. Each case corresponds to an input
/// on which Fooocus's Python raises (assertion, broadcasting or arithmetic
/// error) or that the stage cannot represent.
public enum FooocusError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Two images that must have the same size do not.
    case sizeMismatch(String)
    /// The inpaint mask has no non-zero pixel, so there is no crop box.
    case emptyMask
    /// An image has a channel count the stage does not accept (HWC3 rejects 2).
    case unsupportedChannels(Int)
    /// A numeric parameter is out of range or not finite.
    case invalidParameter(String)
    /// Shape-ceil sizing reached a zero side (Fooocus divides by zero there).
    case degenerateShape(height: Int, width: Int)

    public var description: String {
        switch self {
        case .sizeMismatch(let what): return "size mismatch: \(what)"
        case .emptyMask: return "the mask has no non-zero pixel"
        case .unsupportedChannels(let n): return "unsupported channel count \(n)"
        case .invalidParameter(let what): return "invalid parameter: \(what)"
        case .degenerateShape(let h, let w): return "shape-ceil sizing degenerates at \(h)×\(w)"
        }
    }
}

/// Splits independent work over both cores (or however many there are).
/// Every caller computes each output element from inputs that no band
/// writes, so results are bit-identical however the range is cut.
enum Bands {
    static let cores: Int = {
        #if canImport(Glibc)
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        #else
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
        #endif
    }()

    /// Calls `body` with disjoint ranges covering `0..<count`, concurrently
    /// when `count * costPerItem` (samples touched) is worth a dispatch.
    static func forEach(count: Int, costPerItem: Int, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let (total, overflow) = count.multipliedReportingOverflow(by: max(1, costPerItem))
        if cores == 1 || count == 1 || (!overflow && total < 1 << 15) {
            body(0..<count)
            return
        }
        let bands = min(count, cores * 4)
        // The bands only run while this call waits for them, and each writes
        // disjoint memory, so sharing `body` across threads is sound.
        nonisolated(unsafe) let work = body
        DispatchQueue.concurrentPerform(iterations: bands) { band in
            let lower = count * band / bands
            let upper = count * (band + 1) / bands
            if lower < upper { work(lower..<upper) }
        }
    }
}

/// A raw buffer pointer handed to the bands of ``Bands/forEach(count:costPerItem:_:)``;
/// each band writes only its own part.
struct SharedPointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
}
