import GantryCore

/// One thing a request asks the engine for, and the input field that asks for it.
public struct Requirement: Sendable, Equatable {
    public var capability: EngineCapability
    /// The wire name of the field (for the error's `loc`).
    public var field: String

    public init(_ capability: EngineCapability, field: String) {
        self.capability = capability
        self.field = field
    }
}

/// A fooocus request: what it asks the engine for, and the submit-time checks that need no image.
public protocol EngineRequest: Decodable, Sendable {
    /// The endpoint the input belongs to (for messages).
    static var endpoint: String { get }
    var requirements: [Requirement] { get }
    func validate() throws(FunctionError)
}

/// The submit-time refusal every fooocus function shares: a request that needs what the engine cannot do is a 422
/// before it is queued, never a run that pretends.
public enum Requirements {
    /// The `error_type` of a refusal.
    public static let errorType = "capability_unavailable"

    /// Throws a 422 `capability_unavailable` with one issue per missing capability (loc naming the first field that
    /// needs it) when `engine` lacks any capability in `requirements`.
    public static func refuseMissing(_ requirements: [Requirement], engine: any ImageEngine) throws(FunctionError) {
        let missing = engine.missing(Set(requirements.map(\.capability)))
        guard !missing.isEmpty else { return }
        let offers = EngineCapability.allCases.filter(engine.capabilities.contains).map(\.phrase)
        let offered = offers.isEmpty ? "nothing" : offers.joined(separator: ", ")
        let issues = missing.map { capability in
            let field = requirements.first { $0.capability == capability }?.field ?? ""
            let loc: [JSONValue] = [.string("body")] + (field.isEmpty ? [] : [.string(field)])
            return ValidationIssue(
                loc: loc,
                msg: "the \(engine.name) engine cannot do \(capability.phrase) (capability '\(capability.rawValue)'); it offers \(offered)",
                type: errorType)
        }
        throw FunctionError(status: 422, errorType: errorType, detail: .issues(issues))
    }

    /// The whole submit-time check of a fooocus function: the request's own checks, then the engine's capabilities.
    public static func check(_ input: some EngineRequest, engine: any ImageEngine) throws(FunctionError) {
        try input.validate()
        try refuseMissing(input.requirements, engine: engine)
    }

    /// What image prompts and the `mixing_*` flags ask for.
    static func imagePrompts(_ prompts: ImagePromptFields?, mixing: [(field: String, on: Bool)]) -> [Requirement] {
        let active = prompts?.active.map { Requirement(.imagePrompt, field: $0.field) } ?? []
        return active + mixing.filter(\.on).map { Requirement(.imagePrompt, field: $0.field) }
    }
}
