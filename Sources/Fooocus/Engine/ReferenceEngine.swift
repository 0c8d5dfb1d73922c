import Imaging

/// The CPU reference engine (DESIGN.md §6): content-aware fill of the masked
/// region by multi-scale patch-based synthesis (PatchMatch nearest-neighbour
/// fields with voting, coarse to fine), started from the Fooocus fill. Patches
/// come only from the known part of the crop, so the hole gets content
/// synthesised from the rest of the image. Prompts are ignored; below
/// strength 0.99 Fooocus passes the crop itself as the fill, so the original
/// content then only weakly guides the coarsest completion.
///
/// It works at the crop's own resolution when that is no larger than the
/// working size (the original box and mask > 127, without the super-resolution
/// step), else at the working size; finishing resizes the result to the box.
/// Known pixels are returned unchanged. Deterministic for a seed, whatever the
/// number of threads.
public struct ReferenceEngine: ImageEngine {
    public let name = "reference"
    public let capabilities: Set<EngineCapability> = [.inpaint, .outpaint, .upscale]

    let options: PatchSynthesis.Options

    public init() { options = .init() }

    init(options: PatchSynthesis.Options) { self.options = options }

    public func inpaint(_ task: InpaintTask, progress: @escaping @Sendable (Double) async -> Void) async throws -> Image {
        try Task.checkCancellation()
        let prep = task.preparation
        let box = prep.box
        let image: Image
        let hole: [UInt8]
        if box.width * box.height <= prep.workingWidth * prep.workingHeight {
            image = prep.image.cropped(x: box.c, y: box.a, width: box.width, height: box.height)
            let mask = prep.mask.cropped(x: box.c, y: box.a, width: box.width, height: box.height)
            hole = mask.pixels.map { $0 > 127 ? 1 : 0 }
        } else {
            image = prep.workingCrop
            hole = prep.workingMask.pixels.map { $0 > 127 ? 1 : 0 }
        }
        let synthesis = PatchSynthesis(options: options, seed: task.seed)
        return try await synthesis.synthesize(image: image, hole: hole, initial: prep.fill, progress: progress)
    }
}
