import GantryCore

/// A fooocus endpoint that only a diffusion engine can serve (`fal-ai/fooocus` text-to-image,
/// `fal-ai/fooocus/image-prompt`). Every request is checked at submit like the others, so with the reference engine
/// it is refused there with `capability_unavailable`; an engine that declares the capabilities but has no
/// implementation here gets 501 rather than a run that pretends.
public struct DiffusionOnlyFunction<Input: EngineRequest>: HostedFunction {
    public typealias Output = FooocusOutput

    let engine: any ImageEngine

    public init(engine: any ImageEngine = ReferenceEngine()) {
        self.engine = engine
    }

    public static var checksAtSubmit: Bool { true }

    public func check(_ input: Input) throws {
        try Requirements.check(input, engine: engine)
    }

    public func run(_ input: Input, context: RunContext) async throws -> FooocusOutput {
        // `gantry run` and older queued requests skip the submit-time check; refuse here too.
        try check(input)
        throw FunctionError.failed("\(Input.endpoint) is not implemented for the \(engine.name) engine",
                                   errorType: "not_implemented", status: 501)
    }
}
