import Imaging

/// The CPU stand-in for a foreground mask model: GrabCut initialised from a centred box, on a downscaled working
/// copy, with the label mask scaled back to the input size.
///
/// The box leaves a 5 % margin on each side (at least one pixel): the margin is what GrabCut learns the background
/// from, and photos meant for a foreground mask usually frame their subject well inside the edges; a wider margin
/// would cut off subjects that reach towards the frame. The working copy's longest side is at most 320 pixels
/// (Pillow-exact LANCZOS), which keeps a cut well under a second and a mask's outline is still finer than the
/// feathering Fooocus applies to masks. The 0/255 labels are LANCZOS-resized to the input size and thresholded at
/// 127, which smooths the staircase of the upscaled labels. Deterministic: the same image gives the same mask.
public enum CentredBoxSegmentation {
    /// Fraction of each side left outside the box.
    public static let margin = 0.05
    /// Longest side of the working copy.
    public static let workingSide = 320
    /// GrabCut iterations.
    public static let iterations = 5

    /// The box for an image of `width` × `height`: `margin` of each side outside, at least one pixel.
    static func box(width: Int, height: Int) -> GrabCut.Box {
        let mx = max(1, Int((Double(width) * margin).rounded()))
        let my = max(1, Int((Double(height) * margin).rounded()))
        return GrabCut.Box(x: mx, y: my, width: max(0, width - 2 * mx), height: max(0, height - 2 * my))
    }

    /// The size of the working copy: the input scaled so its longest side is at most ``workingSide``.
    static func workingSize(width: Int, height: Int) -> (width: Int, height: Int) {
        let longest = max(width, height)
        guard longest > workingSide else { return (width, height) }
        let scale = Double(workingSide) / Double(longest)
        return (max(1, Int((Double(width) * scale).rounded())), max(1, Int((Double(height) * scale).rounded())))
    }

    /// A 1-channel mask the size of `image`, 255 = foreground. Gray and alpha inputs are read as RGB (alpha
    /// dropped, as the mask models see the colour image).
    public static func mask(_ image: Image, seed: UInt64 = 0) -> Image {
        let rgb = image.channels == 3 ? image : image.converted(toChannels: 3)
        let size = workingSize(width: rgb.width, height: rgb.height)
        let working = size == (rgb.width, rgb.height) ? rgb : Resample.lanczos(rgb, width: size.width, height: size.height)
        let grabCut = GrabCut(working, box: box(width: size.width, height: size.height),
                              options: .init(iterations: iterations, seed: seed))
        let labels = grabCut.segment()
        let small = Image(width: size.width, height: size.height, channels: 1, pixels: labels.map { $0 ? 255 : 0 })
        guard size != (rgb.width, rgb.height) else { return small }
        var full = Resample.lanczos(small, width: rgb.width, height: rgb.height)
        for i in full.pixels.indices { full.pixels[i] = full.pixels[i] > 127 ? 255 : 0 }
        return full
    }
}
