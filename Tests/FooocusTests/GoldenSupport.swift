import Foundation
import Imaging
import Testing

/// A JSON value from the golden manifest's free-form `params` / `expect`.
enum JSONValue: Sendable, Equatable, Decodable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null; return }
        if let value = try? container.decode(Bool.self) { self = .bool(value); return }
        if let value = try? container.decode(Double.self) { self = .number(value); return }
        if let value = try? container.decode(String.self) { self = .string(value); return }
        if let value = try? container.decode([JSONValue].self) { self = .array(value); return }
        self = .object(try container.decode([String: JSONValue].self))
    }

    var double: Double? { if case .number(let v) = self { v } else { nil } }
    var int: Int? { double.flatMap { $0 == $0.rounded() ? Int($0) : nil } }
    var bool: Bool? { if case .bool(let v) = self { v } else { nil } }
    var string: String? { if case .string(let v) = self { v } else { nil } }
    var array: [JSONValue]? { if case .array(let v) = self { v } else { nil } }
    var object: [String: JSONValue]? { if case .object(let v) = self { v } else { nil } }
    var ints: [Int]? { array.flatMap { values in values.compactMap(\.int).count == values.count ? values.compactMap(\.int) : nil } }
}

struct GoldenFailure: Error, CustomStringConvertible {
    let description: String
}

/// One case of `manifest.json`, or a stand-in that fails because the
/// goldens are missing (so a missing directory never passes silently).
struct GoldenCase: Sendable, Decodable, CustomTestStringConvertible {
    var name: String
    var op: String
    var params: [String: JSONValue] = [:]
    var inputs: [String: String] = [:]
    var outputs: [String: String] = [:]
    var expect: [String: JSONValue]? = nil
    /// Set on the stand-in case: why there are no goldens to test against.
    var problem: String? = nil

    enum CodingKeys: String, CodingKey { case name, op, params, inputs, outputs, expect }

    var testDescription: String { name }

    /// Throws (failing the test) for the stand-in case.
    func requireGoldens() throws {
        if let problem { throw GoldenFailure(description: problem) }
    }

    func param(_ key: String) throws -> JSONValue {
        guard let value = params[key] else { throw GoldenFailure(description: "\(name): no param \(key)") }
        return value
    }

    func expected(_ key: String) throws -> JSONValue {
        guard let value = expect?[key] else { throw GoldenFailure(description: "\(name): no expect \(key)") }
        return value
    }

    func input(_ role: String) throws -> Image {
        guard let file = inputs[role] else { throw GoldenFailure(description: "\(name): no input \(role)") }
        return try Goldens.readImage(file)
    }

    func optionalInput(_ role: String) throws -> Image? {
        inputs[role] == nil ? nil : try input(role)
    }

    func output(_ role: String) throws -> Image {
        guard let file = outputs[role] else { throw GoldenFailure(description: "\(name): no output \(role)") }
        return try Goldens.readImage(file)
    }

    /// Expects `actual` to equal the golden output `role` byte for byte,
    /// reporting the first differing index otherwise.
    func expectOutput(_ actual: Image, _ role: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        expectIdentical(actual, try output(role), "\(name) \(role)", sourceLocation: sourceLocation)
    }
}

/// Compares two images with zero tolerance.
func expectIdentical(_ actual: Image, _ expected: Image, _ label: String,
                     sourceLocation: SourceLocation = #_sourceLocation) {
    guard actual.width == expected.width, actual.height == expected.height, actual.channels == expected.channels
    else {
        let message = "\(label): got \(actual.width)×\(actual.height)×\(actual.channels), "
            + "expected \(expected.width)×\(expected.height)×\(expected.channels)"
        Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
        return
    }
    guard actual.pixels != expected.pixels else { return }
    let first = actual.pixels.indices.first { actual.pixels[$0] != expected.pixels[$0] }!
    let differing = actual.pixels.indices.reduce(0) { $0 + (actual.pixels[$1] != expected.pixels[$1] ? 1 : 0) }
    let pixel = first / actual.channels
    let message = "\(label): \(differing) bytes differ; first at index \(first) (x \(pixel % actual.width), "
        + "y \(pixel / actual.width), channel \(first % actual.channels)): got \(actual.pixels[first]), "
        + "expected \(expected.pixels[first])"
    Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
}

/// The golden files of Tests/reference/make_goldens.py.
enum Goldens {
    /// `$GANTRY_GOLDENS`, else `.build/goldens` in the package root.
    static let directory: URL = {
        if let path = ProcessInfo.processInfo.environment["GANTRY_GOLDENS"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/goldens")
    }()

    static let manifest: Result<[GoldenCase], GoldenFailure> = {
        let url = directory.appendingPathComponent("manifest.json")
        guard let data = try? Data(contentsOf: url) else {
            return .failure(GoldenFailure(description: "no golden manifest at \(url.path): run "
                                          + "`scripts/make-goldens.sh` (or set GANTRY_GOLDENS)"))
        }
        struct Manifest: Decodable { let version: Int; let cases: [GoldenCase] }
        do {
            let manifest = try JSONDecoder().decode(Manifest.self, from: data)
            guard manifest.version == 1 else {
                return .failure(GoldenFailure(description: "golden manifest version \(manifest.version), expected 1"))
            }
            return .success(manifest.cases)
        } catch {
            return .failure(GoldenFailure(description: "unreadable golden manifest \(url.path): \(error); "
                                          + "run `scripts/make-goldens.sh`"))
        }
    }()

    /// The cases of `op`; a single failing stand-in when the goldens are
    /// missing or hold no case of `op`.
    static func cases(_ op: String) -> [GoldenCase] {
        switch manifest {
        case .failure(let failure):
            return [GoldenCase(name: "\(op)-goldens-missing", op: op, problem: failure.description)]
        case .success(let all):
            let mine = all.filter { $0.op == op }
            if mine.isEmpty {
                return [GoldenCase(name: "\(op)-no-cases", op: op,
                                   problem: "the golden manifest has no `\(op)` case: run `scripts/make-goldens.sh`")]
            }
            return mine
        }
    }

    /// Reads a `.raw` file: "GLD1", little-endian UInt32 width, height,
    /// channels, then the bytes.
    static func readImage(_ file: String) throws -> Image {
        let url = directory.appendingPathComponent(file)
        let data = try Data(contentsOf: url)
        let bytes = [UInt8](data)
        guard bytes.count >= 16, bytes[0..<4].elementsEqual("GLD1".utf8) else {
            throw GoldenFailure(description: "\(file): not a GLD1 file")
        }
        func word(_ offset: Int) -> Int {
            (0..<4).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
        }
        let (width, height, channels) = (word(4), word(8), word(12))
        guard (1...4).contains(channels), bytes.count == 16 + width * height * channels else {
            throw GoldenFailure(description: "\(file): bad header or size")
        }
        return Image(width: width, height: height, channels: channels, pixels: Array(bytes[16...]))
    }
}
