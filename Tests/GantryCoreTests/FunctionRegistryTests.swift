import Foundation
@testable import GantryCore
import Testing

/// A temporary functions/ and schemas/ pair, removed afterwards.
private struct Layout {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("registry-\(UUID().uuidString)")
    var functions: URL { root.appendingPathComponent("functions") }
    var schemas: URL { root.appendingPathComponent("schemas") }

    init() throws {
        try FileManager.default.createDirectory(at: functions.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: schemas, withIntermediateDirectories: true)
        try write("schemas/in.json", #"{"type":"object","properties":{"n":{"type":"integer","default":2}}}"#)
        try write("schemas/out.json", #"{"type":"object"}"#)
    }

    func write(_ relative: String, _ text: String) throws {
        try Data(text.utf8).write(to: root.appendingPathComponent(relative))
    }

    func manifest(_ file: String, id: String, handler: String = "test.echo", input: String = "in.json", extra: String = "") throws {
        try write("functions/\(file)", #"{"id":"\#(id)","handler":"\#(handler)","input_schema":"\#(input)","output_schema":"out.json"\#(extra)}"#)
    }

    func load() throws -> FunctionRegistry {
        try FunctionRegistry.load(functionsDirectory: functions.path, schemasDirectory: schemas.path,
                                  handlers: ["test.echo": AnyHostedFunction(ProbeFunction(probe: Probe()))])
    }

    func remove() { try? FileManager.default.removeItem(at: root) }
}

/// Runs `body` and returns the `ConfigurationError` it threw.
private func configurationError(_ body: () throws -> Void) -> ConfigurationError? {
    #expect(throws: ConfigurationError.self, performing: body)
}

@Suite("FunctionManifest and FunctionRegistry")
struct FunctionRegistryTests {
    /// Optional fields take their documented defaults.
    @Test func manifestDefaults() throws {
        let decoded = try JSONDecoder().decode(FunctionManifest.self, from: Data(#"{"id":"a/b","handler":"h","input_schema":"i","output_schema":"o"}"#.utf8))
        #expect(decoded.concurrency == 1)
        #expect(decoded.timeoutSeconds == 600)
        #expect(decoded.maxAttempts == 3)
        #expect(decoded.title == nil)
        try decoded.validate()
    }

    /// A manifest without a required key does not decode.
    @Test(arguments: ["id", "handler", "input_schema", "output_schema"])
    func manifestMissingKey(key: String) {
        var object: [String: String] = ["id": "a/b", "handler": "h", "input_schema": "i", "output_schema": "o"]
        object[key] = nil
        let data = try! JSONEncoder().encode(object)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(FunctionManifest.self, from: data) }
    }

    /// Bad values are refused with a message naming the field.
    @Test(arguments: [
        ("single", "", "owner/alias"), ("a//b", "", "owner/alias"), ("workflows/b", "", "namespace"),
        ("a/requests", "", "requests"), ("a/b", #","concurrency":0"#, "concurrency"),
        ("a/b", #","concurrency":2000"#, "concurrency"), ("a/b", #","timeout_seconds":0"#, "timeout_seconds"),
        ("a/b", #","max_attempts":0"#, "max_attempts"),
    ])
    func manifestValidation(id: String, extra: String, mentions: String) throws {
        let data = Data(#"{"id":"\#(id)","handler":"h","input_schema":"i","output_schema":"o"\#(extra)}"#.utf8)
        let decoded = try JSONDecoder().decode(FunctionManifest.self, from: data)
        let error = configurationError { try decoded.validate() }
        #expect(error?.message.contains(mentions) == true, "\(error?.message ?? "no error")")
    }

    /// Manifests in nested directories load, bound to their handlers, with validators that fill defaults.
    @Test func loads() throws {
        let layout = try Layout()
        defer { layout.remove() }
        try layout.manifest("one.json", id: "gantry/one")
        try layout.manifest("sub/two.json", id: "gantry/two/path", extra: #","concurrency":4"#)
        try layout.write("functions/README.md", "not a manifest")
        let registry = try layout.load()
        #expect(registry.functions.map(\.id) == ["gantry/one", "gantry/two/path"])
        #expect(registry.function(id: "gantry/two/path")?.manifest.concurrency == 4)
        #expect(try registry.function(id: "gantry/one")?.validate(.object([:])).get() == .object(["n": .number(2)]))
    }

    @Test func unknownHandlerNamesTheFile() throws {
        let layout = try Layout()
        defer { layout.remove() }
        try layout.manifest("bad.json", id: "gantry/bad", handler: "nope")
        let error = configurationError { _ = try layout.load() }
        #expect(error?.message.contains("bad.json") == true)
        #expect(error?.message.contains("nope") == true)
    }

    @Test func duplicateIDNamesAFile() throws {
        let layout = try Layout()
        defer { layout.remove() }
        try layout.manifest("a.json", id: "gantry/same")
        try layout.manifest("b.json", id: "gantry/same")
        let error = configurationError { _ = try layout.load() }
        #expect(error?.message.contains("duplicate id gantry/same") == true)
        #expect(error.map { $0.message.contains("a.json") || $0.message.contains("b.json") } == true)
    }

    @Test func missingSchemaNamesTheFiles() throws {
        let layout = try Layout()
        defer { layout.remove() }
        try layout.manifest("m.json", id: "gantry/m", input: "absent.json")
        let error = configurationError { _ = try layout.load() }
        #expect(error?.message.contains("m.json") == true)
        #expect(error?.message.contains("absent.json") == true)
    }

    @Test func malformedManifestNamesTheFile() throws {
        let layout = try Layout()
        defer { layout.remove() }
        try layout.write("functions/broken.json", "{not json")
        #expect(configurationError { _ = try layout.load() }?.message.contains("broken.json") == true)
    }

    /// A manifest with bad values is a start-up error; the operator needs the file, not just the id.
    @Test func invalidManifestNamesTheFile() throws {
        let layout = try Layout()
        defer { layout.remove() }
        try layout.manifest("zero.json", id: "gantry/zero", extra: #","concurrency":0"#)
        let error = configurationError { _ = try layout.load() }
        #expect(error?.message.contains("zero.json") == true)
    }

    /// A functions directory that does not exist is a start-up error, not an empty registry.
    @Test func missingDirectory() {
        let error = configurationError {
            _ = try FunctionRegistry.load(functionsDirectory: "/nonexistent-\(UUID().uuidString)", schemasDirectory: "/tmp", handlers: [:])
        }
        #expect(error?.message.contains("cannot be read") == true)
    }

    /// Path segments resolve to the function with the longest matching id; the remainder is the endpoint path.
    @Test(arguments: [
        ("a/b", "a/b", ""), ("a/b/x/y", "a/b", "x/y"), ("a/b/c", "a/b/c", ""), ("a/b/c/d", "a/b/c", "d"),
        ("x/y/z", "x/y", "z"), ("a", nil, ""), ("q/r", nil, ""), ("b/a", nil, ""),
    ] as [(String, String?, String)])
    func resolve(path: String, expected: String?, rest: String) {
        let probe = ProbeFunction(probe: Probe())
        let registry = FunctionRegistry(functions: ["a/b", "a/b/c", "x/y"].map { registered(manifest($0), probe) })
        let resolved = registry.resolve(segments: path.split(separator: "/"))
        #expect(resolved?.function.id == expected)
        if expected != nil { #expect(resolved?.rest.joined(separator: "/") == rest) }
    }
}
