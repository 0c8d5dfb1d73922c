import GantryCore

/// The handlers of the fooocus functions, by manifest `handler` name (functions/fooocus/*.json).
public enum FooocusFunctions {
    /// Every fooocus handler, running on `engine`. What a request needs and the engine lacks is refused at submit.
    public static func handlers(engine: any ImageEngine = ReferenceEngine()) -> [String: AnyHostedFunction] {
        [
            "fooocus.inpaint": AnyHostedFunction(InpaintFunction(engine: engine)),
            "fooocus.upscale-or-vary": AnyHostedFunction(UpscaleOrVaryFunction(engine: engine)),
            "fooocus.image-prompt": AnyHostedFunction(ImagePromptFunction(engine: engine)),
            "fooocus.text-to-image": AnyHostedFunction(TextToImageFunction(engine: engine)),
            "fooocus.generate-mask": AnyHostedFunction(GenerateMaskFunction(engine: engine)),
            "fooocus.describe-image": AnyHostedFunction(DescribeImageFunction(engine: engine)),
        ]
    }
}
