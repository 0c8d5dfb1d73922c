import Foundation
import Imaging
import Testing

// Golden files written by Tests/reference/make_goldens.py (run via
// scripts/make-goldens.sh) from the real Pillow / OpenCV / numpy code.
// Self-contained so other test targets can copy this file as is.
//
// Layout: <dir>/manifest.json =
//   {"version": 1, "cases": [{"name", "op", "params": {}, "inputs": {role: file},
//                             "outputs": {role: file}, "expect": {}}]}
// and each image file = ASCII "GLD1", little-endian UInt32 width, height,
// channels, then width·height·channels bytes.

/// A JSON value from the manifest (`params` and `expect` are free-form).
enum GoldenValue: Decodable, Sendable, Equatable, CustomStringConvertible {
    case number(Double), string(String), bool(Bool), array([GoldenValue]), object([String: GoldenValue]), null

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([GoldenValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: GoldenValue].self)) }
    }

    var description: String {
        switch self {
        case .number(let d): d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
        case .string(let s): "\"\(s)\""
        case .bool(let b): String(b)
        case .array(let a): "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .object(let o): "{" + o.keys.sorted().map { "\($0): \(o[$0]!)" }.joined(separator: ", ") + "}"
        case .null: "null"
        }
    }

    var int: Int? { if case .number(let d) = self, d == d.rounded() { return Int(d) }; return nil }
    var double: Double? { if case .number(let d) = self { return d }; return nil }
}

/// One manifest entry. A case whose `problem` is set stands for a golden set
/// that could not be used: running it must record that problem as a failure.
struct GoldenCase: Decodable, Sendable, CustomTestStringConvertible {
    var name: String
    var op: String
    var params: [String: GoldenValue] = [:]
    var inputs: [String: String] = [:]
    var outputs: [String: String] = [:]
    var expect: [String: GoldenValue] = [:]
    var problem: String? = nil

    enum CodingKeys: String, CodingKey { case name, op, params, inputs, outputs, expect }

    init(problem: String, op: String) {
        self.name = "unavailable"
        self.op = op
        self.problem = problem
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        op = try c.decode(String.self, forKey: .op)
        params = try c.decodeIfPresent([String: GoldenValue].self, forKey: .params) ?? [:]
        inputs = try c.decodeIfPresent([String: String].self, forKey: .inputs) ?? [:]
        outputs = try c.decodeIfPresent([String: String].self, forKey: .outputs) ?? [:]
        expect = try c.decodeIfPresent([String: GoldenValue].self, forKey: .expect) ?? [:]
    }

    var testDescription: String { name }

    /// An integer parameter, or a thrown error naming the case.
    func int(_ key: String) throws -> Int {
        guard let v = params[key]?.int else { throw GoldenError("\(name): missing integer param '\(key)'") }
        return v
    }
}

struct GoldenError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The loaded manifest plus access to its image files.
struct GoldenSet: Sendable {
    var directory: URL
    var cases: [GoldenCase]

    static let regenerateHint = "run scripts/make-goldens.sh (needs python3 with Tests/reference/requirements.txt)"

    /// `$GANTRY_GOLDENS`, else `<package root>/.build/goldens`.
    static var defaultDirectory: URL {
        if let env = ProcessInfo.processInfo.environment["GANTRY_GOLDENS"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/goldens")
    }

    static func load(from directory: URL = defaultDirectory) throws -> GoldenSet {
        let manifest = directory.appendingPathComponent("manifest.json")
        guard FileManager.default.fileExists(atPath: manifest.path) else {
            throw GoldenError("golden set not found at \(manifest.path); \(regenerateHint)")
        }
        struct Manifest: Decodable { var version: Int; var cases: [GoldenCase] }
        let decoded = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: manifest))
        guard decoded.version == 1 else { throw GoldenError("manifest version \(decoded.version), expected 1") }
        return GoldenSet(directory: directory, cases: decoded.cases)
    }

    /// The cases of one op, for `@Test(arguments:)`. Never empty: when the set
    /// is missing or has no case for `op`, one problem case stands in so the
    /// test fails instead of silently running nothing.
    static func cases(op: String) -> [GoldenCase] {
        do {
            let set = try shared.get()
            let matching = set.cases.filter { $0.op == op }
            if matching.isEmpty {
                return [GoldenCase(problem: "no golden cases for op '\(op)' in \(set.directory.path); \(regenerateHint)", op: op)]
            }
            return matching
        } catch {
            return [GoldenCase(problem: "\(error)", op: op)]
        }
    }

    /// Loaded once per test process.
    static let shared: Result<GoldenSet, Error> = Result { try load() }

    /// Reads one `.raw` file.
    func image(_ file: String) throws -> Image {
        let bytes = [UInt8](try Data(contentsOf: directory.appendingPathComponent(file)))
        guard bytes.count >= 16, bytes[0..<4].elementsEqual("GLD1".utf8) else {
            throw GoldenError("\(file): not a GLD1 file")
        }
        func u32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) } }
        let (w, h, c) = (u32(4), u32(8), u32(12))
        guard (1...4).contains(c), bytes.count == 16 + w * h * c else {
            throw GoldenError("\(file): header \(w)×\(h)×\(c) does not match \(bytes.count - 16) bytes")
        }
        return Image(width: w, height: h, channels: c, pixels: Array(bytes[16...]))
    }

    /// The image for `role` in `files`; a lone entry is accepted under any role.
    func image(_ files: [String: String], role: String, of c: GoldenCase) throws -> Image {
        if let file = files[role] ?? (files.count == 1 ? files.values.first : nil) { return try image(file) }
        throw GoldenError("\(c.name): no '\(role)' file among \(files.keys.sorted())")
    }

    func input(_ c: GoldenCase, _ role: String) throws -> Image { try image(c.inputs, role: role, of: c) }
    func output(_ c: GoldenCase, _ role: String) throws -> Image { try image(c.outputs, role: role, of: c) }

    /// nil when identical, else what differs (size or first differing byte).
    static func mismatch(_ actual: Image, _ expected: Image) -> String? {
        if (actual.width, actual.height, actual.channels) != (expected.width, expected.height, expected.channels) {
            return "got \(actual.width)×\(actual.height)×\(actual.channels), expected "
                + "\(expected.width)×\(expected.height)×\(expected.channels)"
        }
        var count = 0
        var first = -1
        for i in actual.pixels.indices where actual.pixels[i] != expected.pixels[i] {
            if first < 0 { first = i }
            count += 1
        }
        if first < 0 { return nil }
        let px = first / actual.channels
        return "\(count) bytes differ; first at index \(first) (x \(px % actual.width), y \(px / actual.width), "
            + "channel \(first % actual.channels)): got \(actual.pixels[first]), expected \(expected.pixels[first])"
    }
}
