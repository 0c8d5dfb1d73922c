import Foundation
import GantryCore
import Imaging

/// Typed reads of a Fooocus-API request's fields, from a JSON object (v1 text-to-image, the v2 routes) or a
/// multipart form (the v1 routes), with the coercions FastAPI applies to each; every wrong value is a 422 naming
/// the field (`loc` = `["body", …path, name]`), never a silent default.
struct FooocusAPIFields {
    /// Where the values come from.
    enum Storage {
        case json([String: JSONValue])
        case form(MultipartForm)
    }

    let storage: Storage
    /// The location of this object inside the body (`["advanced_params"]` for the nested parameters).
    var path: [String] = []

    /// A 422 naming `name` (or a location below it).
    func error(_ name: String, _ message: String, type: String = "value_error", below: [String] = []) -> APIError {
        APIError.field(["body"] + path + [name] + below, message, type: type)
    }

    /// The fields of a nested object (`advanced_params`, an `image_prompts` item).
    func nested(_ object: [String: JSONValue], at location: [String]) -> FooocusAPIFields {
        FooocusAPIFields(storage: .json(object), path: path + location)
    }

    /// The field as JSON; a form field is its text, except that the last of repeated fields wins (as Starlette
    /// does) and an empty one counts as absent.
    private func raw(_ name: String) -> JSONValue? {
        switch storage {
        case .json(let object): return object[name]
        case .form(let form):
            guard let text = form.parts(named: name).last?.text, !text.isEmpty else { return nil }
            return .string(text)
        }
    }

    /// A string; `null` is absent only where Fooocus-API declares the field optional.
    func string(_ name: String, nullable: Bool = false) throws -> String? {
        switch raw(name) {
        case nil: return nil
        case .null?: if nullable { return nil } else { throw error(name, "Input should be a valid string, not null", type: "string_type") }
        case .string(let value)?: return value
        default: throw error(name, "Input should be a valid string", type: "string_type")
        }
    }

    /// A string that must be one of `allowed` (pydantic's enum error otherwise).
    func oneOf(_ name: String, _ allowed: [String], nullable: Bool = false) throws -> String? {
        guard let value = try string(name, nullable: nullable) else { return nil }
        guard allowed.contains(value) else {
            let choices = allowed.map { "'\($0)'" }.joined(separator: ", ")
            throw error(name, "Input should be one of \(choices), not '\(value.prefix(100))'", type: "enum")
        }
        return value
    }

    /// A boolean: JSON `true`/`false`, or the strings pydantic accepts (`true`, `1`, `yes`, `on`, …).
    func bool(_ name: String) throws -> Bool? {
        switch raw(name) {
        case nil: return nil
        case .bool(let value)?: return value
        case .number(let value)? where value == 0 || value == 1: return value == 1
        case .string(let text)?:
            switch text.trimmingCharacters(in: .whitespaces).lowercased() {
            case "true", "1", "yes", "on", "t", "y": return true
            case "false", "0", "no", "off", "f", "n": return false
            default: break
            }
        default: break
        }
        throw error(name, "Input should be a valid boolean", type: "bool_parsing")
    }

    /// A number within `range`; numeric strings are accepted (forms carry nothing else).
    func double(_ name: String, in range: ClosedRange<Double>? = nil) throws -> Double? {
        let value: Double
        switch raw(name) {
        case nil: return nil
        case .number(let number)?: value = number
        case .string(let text)?:
            guard let parsed = Double(text.trimmingCharacters(in: .whitespaces)), parsed.isFinite else {
                throw error(name, "Input should be a valid number", type: "float_parsing")
            }
            value = parsed
        default: throw error(name, "Input should be a valid number", type: "float_type")
        }
        if let range, !range.contains(value) {
            throw error(name, "Input should be between \(Self.text(range.lowerBound)) and \(Self.text(range.upperBound))",
                        type: value < range.lowerBound ? "greater_than_equal" : "less_than_equal")
        }
        return value
    }

    /// An integer within `range`; a number with a fraction is refused.
    func int(_ name: String, in range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let value = try double(name) else { return nil }
        guard value.rounded() == value, abs(value) <= 9.0e18 else {
            throw error(name, "Input should be a valid integer", type: "int_from_float")
        }
        if let range, !range.contains(Int(value)) {
            throw error(name, "Input should be between \(range.lowerBound) and \(range.upperBound)",
                        type: Int(value) < range.lowerBound ? "greater_than_equal" : "less_than_equal")
        }
        return Int(value)
    }

    /// A list of strings: a JSON array, or (forms, and a JSON string) comma-separated parts, each trimmed, from
    /// every repetition of the field. Empty parts are dropped.
    func list(_ name: String) throws -> [String]? {
        func split(_ text: String) -> [String] {
            text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        switch storage {
        case .form(let form):
            let parts = form.parts(named: name)
            return parts.isEmpty ? nil : parts.flatMap { split($0.text) }
        case .json(let object):
            switch object[name] {
            case nil, .null?: return nil
            case .string(let text)?: return split(text)
            case .array(let items)?:
                return try items.enumerated().map { index, item in
                    guard let text = item.stringValue else {
                        throw error(name, "Input should be a valid string", type: "string_type", below: [String(index)])
                    }
                    return text.trimmingCharacters(in: .whitespaces)
                }
            default: throw error(name, "Input should be a valid list", type: "list_type")
            }
        }
    }

    /// A JSON value: as sent in a JSON body, or parsed from a form field's text (`loras`, `advanced_params`).
    func json(_ name: String) throws -> JSONValue? {
        switch raw(name) {
        case nil, .null?: return nil
        case .string(let text)?:
            if case .json = storage, !(text.hasPrefix("{") || text.hasPrefix("[")) { return .string(text) }
            guard let parsed = try? JSONValue.parse(Data(text.utf8)) else {
                throw error(name, "Input should be valid JSON", type: "json_invalid")
            }
            return parsed
        case let value?: return value
        }
    }

    static func text(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}

extension FooocusAPIFields {
    /// The strings Fooocus-API reads as "no image" (`utils/img_utils.py`).
    static let noImage: Set<String> = ["", "None", "none", "null", "string"]

    /// An image field as the fal functions take it: an http(s) URL as given (fetched by the function under the
    /// egress policy), or a `data:` URI of the bytes — an uploaded file, a data URI or bare base64 — checked here to
    /// be PNG, JPEG or WebP. Nil for an absent field and Fooocus-API's "no image" spellings. Where Fooocus-API
    /// turns an undecodable image into "no image" (and silently runs text-to-image), this is a 422.
    func image(_ name: String) throws -> String? {
        switch storage {
        case .form(let form):
            guard let part = form.parts(named: name).last, !part.data.isEmpty else { return nil }
            // A plain (non-file) field may carry a URL or base64 text, as the v2 JSON routes take it.
            if part.fileName == nil, part.data.count < 64 * 1024 * 1024, ImageCodec.sniff(part.data) == nil {
                return try imageText(part.text, name: name)
            }
            guard let uri = Self.dataURI(part.data) else {
                throw error(name, "the uploaded file is not a PNG, JPEG or WebP image", type: "unsupported_format")
            }
            return uri
        case .json(let object):
            switch object[name] {
            case nil, .null?: return nil
            case .string(let text)?: return try imageText(text, name: name)
            default: throw error(name, "Input should be a string: an http(s) URL, a data URI or base64", type: "string_type")
            }
        }
    }

    /// An image given as text: URL, data URI or base64.
    private func imageText(_ raw: String, name: String) throws -> String? {
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if Self.noImage.contains(text) { return nil }
        let lower = text.prefix(8).lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") { return text }
        var payload = Substring(text)
        if lower.hasPrefix("data:") {
            guard let comma = text.firstIndex(of: ",") else {
                throw error(name, "the data URI has no comma before its payload", type: "value_error")
            }
            guard text[..<comma].lowercased().hasSuffix(";base64") else {
                throw error(name, "the data URI must be base64-encoded", type: "value_error")
            }
            payload = text[text.index(after: comma)...]
        }
        guard let bytes = Self.base64(payload) else {
            throw error(name, "Input should be an http(s) URL, a data URI or base64 of an image", type: "value_error")
        }
        guard let uri = Self.dataURI(bytes) else {
            throw error(name, "the image is not a PNG, JPEG or WebP image", type: "unsupported_format")
        }
        return uri
    }

    /// Decodes base64 (standard or URL-safe alphabet, padding optional, whitespace ignored); nil when it is not.
    static func base64(_ text: Substring) -> Data? {
        var cleaned = String(text.filter { !$0.isWhitespace })
        cleaned = cleaned.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard !cleaned.isEmpty else { return nil }
        if cleaned.count % 4 != 0 { cleaned += String(repeating: "=", count: 4 - cleaned.count % 4) }
        return Data(base64Encoded: cleaned)
    }

    /// A data URI of image bytes with the media type their signature says; nil when they are not PNG, JPEG or WebP.
    static func dataURI(_ bytes: Data) -> String? {
        guard let format = ImageCodec.sniff(bytes) else { return nil }
        return "data:\(format.contentType);base64,\(bytes.base64EncodedString())"
    }
}
