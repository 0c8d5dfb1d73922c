import Foundation
import GantryCore
import Imaging

/// `fal-ai/fooocus/inpaint`: Fooocus's exact mask preparation, outpaint expansion and InpaintWorker around an
/// engine that fills the working region, then the paste-back and colour-correction blend.
public struct InpaintFunction: HostedFunction {
    public typealias Input = InpaintInput
    public typealias Output = FooocusOutput

    let engine: any ImageEngine
    let limits: DecodeLimits

    public init(engine: any ImageEngine = ReferenceEngine(), limits: DecodeLimits = .init()) {
        self.engine = engine
        self.limits = limits
    }

    public static var checksAtSubmit: Bool { true }

    public func check(_ input: InpaintInput) throws {
        try Requirements.check(input, engine: engine)
    }

    public func run(_ input: InpaintInput, context: RunContext) async throws -> FooocusOutput {
        // `gantry run` and older queued requests skip the submit-time check; refuse here too.
        try check(input)
        var clock = PhaseClock()
        let seed = FunctionSupport.seed(input.generation.seed)
        await FunctionSupport.logIgnoredFields(input.generation, extraSet: input.diffusionOnlyFieldsSet, engine: engine, context: context)

        let (image, mask) = try await clock.measure("fetch") { try await fetchInputs(input, context: context) }
        await context.progress(0.05)
        try Task.checkCancellation()

        let preparation = try await clock.measure("prepare") { try await Compute.shared.run { try prepare(input, image: image, mask: mask) } }
        await context.log("prepared \(preparation.image.width)×\(preparation.image.height) canvas: box \(preparation.box), "
                          + "working size \(preparation.workingWidth)×\(preparation.workingHeight), strength \(input.strength), "
                          + "respective field \(input.respectiveField)")
        await context.progress(0.15)
        try Task.checkCancellation()

        if input.debuggingInpaintPreprocessor {
            let stages = [preparation.fill, preparation.workingMask, preparation.workingCrop]
            var records: [ImageRecord] = []
            for stage in stages {
                let encoded = try await clock.measure("encode") { try await Compute.shared.run { try FunctionSupport.encode(stage, as: .png) } }
                records.append(try await FunctionSupport.store(encoded, size: stage, context: context))
            }
            await context.log("debugging_inpaint_preprocessor: returning fill, working mask and working crop")
            return FooocusOutput(images: records, timings: clock.timings(), hasNSFWConcepts: stages.map { _ in false }, seed: seed)
        }

        let count = input.generation.numImages
        let prompt = [input.inpaintAdditionalPrompt, input.generation.prompt].filter { !$0.isEmpty }.joined(separator: "\n")
        var records: [ImageRecord] = []
        for index in 0..<count {
            let task = InpaintTask(preparation: preparation, seed: UInt64(seed) &+ UInt64(index), strength: input.strength, prompt: prompt)
            let span = 0.8 / Double(count)
            let base = 0.15 + span * Double(index)
            let generated = try await clock.measure("engine") {
                // The engine computes for a second or more: on the compute threads, not the cooperative pool.
                try await withTaskExecutorPreference(Compute.shared) {
                    try await engine.inpaint(task, progress: { fraction in await context.progress(base + span * 0.9 * min(max(fraction, 0), 1)) })
                }
            }
            try Task.checkCancellation()
            guard generated.channels == 3, generated.width > 0, generated.height > 0 else {
                throw FunctionError.failed("the \(engine.name) engine returned a \(generated.width)×\(generated.height) image with \(generated.channels) channels")
            }
            let result = await clock.measure("finish") { await Compute.shared.run { preparation.finish(generated: generated) } }
            try Task.checkCancellation()
            let format = input.generation.outputFormat
            let encoded = try await clock.measure("encode") { try await Compute.shared.run { try FunctionSupport.encode(result, as: format) } }
            records.append(try await FunctionSupport.store(encoded, size: result, context: context))
            await context.log("image \(index + 1)/\(count): seed \(task.seed), \(result.width)×\(result.height) \(input.generation.outputFormat.rawValue)")
            await context.progress(base + span)
        }
        return FooocusOutput(images: records, timings: clock.timings(), hasNSFWConcepts: records.map { _ in false }, seed: seed)
    }

    /// Fetches and decodes the image and the mask (an all-zero mask when none is given).
    private func fetchInputs(_ input: InpaintInput, context: RunContext) async throws -> (Image, Image) {
        let image = try await FunctionSupport.fetchImage(input.inpaintImageURL, field: "inpaint_image_url", context: context, limits: limits)
        await context.progress(0.02)
        guard input.hasMask, let url = input.maskImageURL else {
            return (image, Image(width: image.width, height: image.height, channels: 1))
        }
        let mask = try await FunctionSupport.fetchImage(url, field: "mask_image_url", context: context, limits: limits)
        guard mask.width == image.width, mask.height == image.height else {
            throw FunctionError.input(field: ["mask_image_url"], code: "size_mismatch",
                                      message: "the mask is \(mask.width)×\(mask.height) but the image is \(image.width)×\(image.height); they must be the same size")
        }
        return (image, mask)
    }

    /// Mask preparation, outpaint expansion and the InpaintWorker's preparation, in Fooocus's order.
    func prepare(_ input: InpaintInput, image: Image, mask: Image) throws -> InpaintPreparation {
        let prepared: (image: Image, mask: Image)
        do {
            prepared = try MaskPreparation.prepare(image: image, mask: mask, erodeOrDilate: input.erodeOrDilate, invert: input.invertMask)
        } catch {
            throw FunctionError.stage(error, field: "inpaint_image_url")
        }
        let directions = input.outpaintDirections
        if directions.isEmpty, !MaskPreparation.hasMaskedPixels(prepared.mask) {
            throw FunctionError.input(field: ["mask_image_url"], code: "empty_mask",
                                      message: "the mask is empty: no pixel is above 127 after preparation (erode/dilate, invert), and no outpaint side is selected")
        }
        let canvas = OutpaintExpansion.expand(image: prepared.image, mask: prepared.mask, directions: directions,
                                              distances: input.outpaintDistances)
        do {
            return try InpaintPreparation.prepare(image: canvas.image, mask: canvas.mask, respectiveField: input.respectiveField,
                                                  useFill: input.strength > 0.99, upscaler: LanczosUpscaler(scale: 4))
        } catch {
            throw FunctionError.stage(error, field: input.hasMask ? "mask_image_url" : "inpaint_image_url")
        }
    }
}
