import Foundation
@testable import Fooocus
import GantryCore
import Testing

/// The schemas in schemas/fooocus and the Swift input types agree: every schema default is the Swift default,
/// every Swift field is in the schema, and the manifests load with the handlers.
@Suite("Fooocus schemas and manifests")
struct FunctionsSchemaTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func schema(_ name: String) throws -> GantryCore.JSONValue {
        try GantryCore.JSONValue.parse(Data(contentsOf: root.appendingPathComponent("schemas/fooocus/\(name)")))
    }

    /// Decodes `required` with the Swift type, encodes it back, and compares each schema property's default with the
    /// Swift value; also decodes the validator's output (defaults applied) and expects the same Swift value.
    static func expectAgreement<T: Codable & Equatable>(_ type: T.Type, schema file: String, required: [String: GantryCore.JSONValue]) throws {
        let schema = try schema(file)
        let properties = try #require(schema["properties"]?.objectValue)
        let minimal = GantryCore.JSONValue.object(required)
        let swift = try JSONDecoder().decode(T.self, from: minimal.encoded())
        let encoded = try GantryCore.JSONValue.parse(JSONEncoder().encode(swift))
        let swiftFields = try #require(encoded.objectValue)
        for (name, property) in properties {
            let resolved = property["$ref"] == nil ? property : (try resolve(property, in: schema))
            if let wanted = resolved["default"] ?? property["default"] {
                #expect(swiftFields[name] == wanted, "\(file) \(name): schema default \(wanted), Swift \(String(describing: swiftFields[name]))")
            } else if required[name] == nil {
                #expect(swiftFields[name] == nil, "\(file) \(name): no schema default, but Swift has \(String(describing: swiftFields[name]))")
            }
        }
        #expect(Set(swiftFields.keys).subtracting(properties.keys).isEmpty, "\(file): Swift fields missing from the schema")
        let validated = try SchemaValidator(schema: schema).validate(minimal).get()
        #expect(try JSONDecoder().decode(T.self, from: validated.encoded()) == swift, "\(file): validated defaults decode differently")
    }

    static func resolve(_ node: GantryCore.JSONValue, in schema: GantryCore.JSONValue) throws -> GantryCore.JSONValue {
        let ref = try #require(node["$ref"]?.stringValue)
        return try #require(schema["$defs"]?[String(ref.split(separator: "/").last!)])
    }

    @Test func inpaintDefaults() throws {
        try Self.expectAgreement(InpaintInput.self, schema: "inpaint.input.json", required: ["inpaint_image_url": .string("x")])
    }

    @Test func upscaleOrVaryDefaults() throws {
        try Self.expectAgreement(UpscaleOrVaryInput.self, schema: "upscale-or-vary.input.json", required: ["uov_image_url": .string("x")])
    }

    @Test func imagePromptDefaults() throws {
        try Self.expectAgreement(ImagePromptInput.self, schema: "image-prompt.input.json",
                                 required: ["image_prompt_1": .object(["image_url": .string("x")])])
    }

    @Test func textToImageDefaults() throws {
        try Self.expectAgreement(TextToImageInput.self, schema: "text-to-image.input.json", required: [:])
    }

    /// The nested types: LoraWeight and ImagePrompt defaults equal their $defs.
    @Test func nestedDefaults() throws {
        let defs = try #require(try Self.schema("inpaint.input.json")["$defs"])
        let lora = try JSONDecoder().decode(LoraWeight.self, from: Data(#"{"path":"p"}"#.utf8))
        #expect(defs["LoraWeight"]?["properties"]?["scale"]?["default"] == .number(lora.scale))
        let prompt = try JSONDecoder().decode(ImagePrompt.self, from: Data("{}".utf8))
        let properties = try #require(defs["ImagePrompt"]?["properties"])
        #expect(properties["type"]?["default"] == .string(prompt.type))
        #expect(properties["stop_at"]?["default"] == .number(prompt.stopAt))
        #expect(properties["weight"]?["default"] == .number(prompt.weight))
        #expect(prompt.imageURL == nil && properties["image_url"]?["default"] == nil)
    }

    /// The styles enum is Fooocus 2.5.5's 279 names, defaults included; the same list in every schema.
    @Test func stylesEnum() throws {
        var lists: [[GantryCore.JSONValue]] = []
        for file in ["inpaint.input.json", "upscale-or-vary.input.json", "image-prompt.input.json", "text-to-image.input.json"] {
            lists.append(try #require(try Self.schema(file)["properties"]?["styles"]?["items"]?["enum"]?.arrayValue))
        }
        let styles = lists[0].compactMap(\.stringValue)
        #expect(styles.count == 279 && Set(styles).count == 279)
        #expect(styles.first == "Fooocus V2" && styles.last == "Mk Shepard Fairey Style")
        #expect(GenerationFields.defaults.styles.allSatisfy(styles.contains))
        #expect(lists.allSatisfy { $0 == lists[0] })
    }

    /// The schema refuses what fal refuses: an unknown style, more than 5 LoRAs, a bad enum.
    @Test func schemaRefusals() throws {
        let validator = SchemaValidator(schema: try Self.schema("inpaint.input.json"))
        let lora = GantryCore.JSONValue.object(["path": .string("p")])
        let bad: [(String, GantryCore.JSONValue)] = [
            ("styles", .array([.string("Not A Style")])), ("loras", .array(Array(repeating: lora, count: 6))),
            ("output_format", .string("gif")), ("inpaint_mode", .string("Other")), ("outpaint_selections", .array([.string("Up")])),
            ("num_images", .number(5)), ("inpaint_strength", .number(1.5)), ("seed", .number(-1)),
        ]
        for (field, value) in bad {
            let input = GantryCore.JSONValue.object(["inpaint_image_url": .string("x"), field: value])
            guard case .failure(let failure) = validator.validate(input) else {
                Issue.record("\(field) \(value) passed")
                continue
            }
            #expect(failure.issues.allSatisfy { $0.loc.dropFirst().first == .string(field) }, "\(field)")
        }
        #expect((try? validator.validate(.object(["inpaint_image_url": .string("x"), "seed": .null])).get()) != nil)
    }

    /// The manifests load with the fooocus handlers (and stand-ins for the built-in ones).
    @Test func manifestsLoad() throws {
        struct Noop: HostedFunction {
            func run(_ input: GantryCore.JSONValue, context: RunContext) async throws -> GantryCore.JSONValue { input }
        }
        var handlers = FooocusFunctions.handlers()
        for builtin in ["gantry.echo", "gantry.image.convert", "gantry.file.digest"] { handlers[builtin] = AnyHostedFunction(Noop()) }
        let registry = try FunctionRegistry.load(functionsDirectory: Self.root.appendingPathComponent("functions").path,
                                                 schemasDirectory: Self.root.appendingPathComponent("schemas").path, handlers: handlers)
        for id in ["fal-ai/fooocus", "fal-ai/fooocus/inpaint", "fal-ai/fooocus/upscale-or-vary", "fal-ai/fooocus/image-prompt"] {
            let function = try #require(registry.function(id: id))
            #expect(function.manifest.concurrency == 1 && function.manifest.timeoutSeconds == 600 && function.manifest.maxAttempts == 3)
            #expect(function.outputSchema["required"]?.arrayValue?.count == 4)
        }
        #expect(registry.resolve(segments: ["fal-ai", "fooocus", "inpaint"])?.function.id == "fal-ai/fooocus/inpaint")
        #expect(registry.resolve(segments: ["fal-ai", "fooocus"])?.function.id == "fal-ai/fooocus")
    }
}
