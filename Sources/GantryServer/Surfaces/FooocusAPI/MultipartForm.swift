import Foundation

/// A `multipart/form-data` body (RFC 7578), parsed strictly and within limits: every part needs a
/// `Content-Disposition: form-data; name="…"`, headers are bounded, the closing delimiter must be there, and the
/// number of parts is capped. The body itself is already bounded by the caller (`--max-body-bytes`).
struct MultipartForm: Sendable, Equatable {
    /// One field or file of the form.
    struct Part: Sendable, Equatable {
        var name: String
        /// Set when the part is a file upload (`filename="…"`).
        var fileName: String?
        var contentType: String?
        var data: Data

        /// The bytes as UTF-8 text (invalid sequences replaced).
        var text: String { String(decoding: data, as: UTF8.self) }
    }

    /// Caps on a form's shape.
    struct Limits: Sendable {
        /// Parts in one form (Fooocus-API's largest form has about 60 fields).
        var maxParts = 256
        /// Bytes of one part's header block.
        var maxHeaderBytes = 8 * 1024
    }

    /// Why a body is not a well-formed form.
    struct FormatError: Error, Equatable, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    var parts: [Part]

    /// Every part named `name`, in body order.
    func parts(named name: String) -> [Part] { parts.filter { $0.name == name } }

    /// The boundary of a `multipart/form-data` content type, or nil when the type is something else.
    static func boundary(contentType: String) throws(FormatError) -> String? {
        let pieces = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard pieces.first?.lowercased() == "multipart/form-data" else { return nil }
        for piece in pieces.dropFirst() {
            let pair = piece.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == "boundary" else { continue }
            var value = pair[1].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            guard (1...70).contains(value.utf8.count), value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
                throw FormatError(message: "the multipart boundary must be 1 to 70 printable ASCII characters")
            }
            return value
        }
        throw FormatError(message: "multipart/form-data without a boundary parameter")
    }

    /// Parses `body` delimited by `boundary`. A preamble before the first delimiter and an epilogue after the
    /// closing one are ignored, as RFC 2046 says.
    static func parse(_ body: Data, boundary: String, limits: Limits = Limits()) throws(FormatError) -> MultipartForm {
        let bytes = [UInt8](body)
        let delimiter = Array("--\(boundary)".utf8)
        // Every delimiter after the first is preceded by CRLF; the first may start the body.
        let separator = Array("\r\n--\(boundary)".utf8)
        var position: Int
        if bytes.starts(with: delimiter) {
            position = delimiter.count
        } else if let found = find(separator, in: bytes, from: 0) {
            position = found + separator.count
        } else {
            throw FormatError(message: "the body holds no multipart delimiter for the declared boundary")
        }
        var parts: [Part] = []
        while true {
            if bytes[position...].starts(with: [0x2D, 0x2D]) { break }  // "--": the closing delimiter
            // Transport padding (spaces, tabs) may follow a delimiter before its CRLF.
            while position < bytes.count, bytes[position] == 0x20 || bytes[position] == 0x09 { position += 1 }
            guard bytes[position...].starts(with: [0x0D, 0x0A]) else {
                throw FormatError(message: "a multipart delimiter is not followed by CRLF")
            }
            position += 2
            guard parts.count < limits.maxParts else {
                throw FormatError(message: "the form has more than \(limits.maxParts) parts")
            }
            let headerEnd = find([0x0D, 0x0A, 0x0D, 0x0A], in: bytes, from: position, limit: limits.maxHeaderBytes + 4)
            guard let headerEnd else {
                throw FormatError(message: "a part's headers are missing their blank line or exceed \(limits.maxHeaderBytes) bytes")
            }
            var part = try header(String(decoding: bytes[position..<headerEnd], as: UTF8.self))
            let contentStart = headerEnd + 4
            guard let contentEnd = find(separator, in: bytes, from: contentStart) else {
                throw FormatError(message: "the body ends before the closing multipart delimiter")
            }
            part.data = Data(bytes[contentStart..<contentEnd])
            parts.append(part)
            position = contentEnd + separator.count
        }
        return MultipartForm(parts: parts)
    }

    /// The part described by a header block (its data still empty).
    private static func header(_ block: String) throws(FormatError) -> Part {
        var disposition: String?
        var contentType: String?
        for line in block.components(separatedBy: "\r\n") where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw FormatError(message: "malformed part header line: \(line.prefix(80))") }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "content-disposition" { disposition = value }
            if name == "content-type" { contentType = value }
        }
        guard let disposition else { throw FormatError(message: "a part has no Content-Disposition header") }
        let parameters = try dispositionParameters(disposition)
        guard let name = parameters["name"] else { throw FormatError(message: "a part's Content-Disposition has no name") }
        return Part(name: name, fileName: parameters["filename"], contentType: contentType, data: Data())
    }

    /// `form-data; name="a"; filename="b.png"` → `["name": "a", "filename": "b.png"]`; quoted values may contain
    /// `;` and backslash-escaped quotes.
    static func dispositionParameters(_ value: String) throws(FormatError) -> [String: String] {
        var characters = Substring(value)
        func token() -> Substring {
            let end = characters.firstIndex { $0 == ";" || $0 == "=" } ?? characters.endIndex
            defer { characters = characters[end...] }
            return characters[..<end]
        }
        guard token().trimmingCharacters(in: .whitespaces).lowercased() == "form-data" else {
            throw FormatError(message: "a part's Content-Disposition is not form-data")
        }
        var result: [String: String] = [:]
        while characters.first == ";" {
            characters = characters.dropFirst()
            let key = token().trimmingCharacters(in: .whitespaces).lowercased()
            guard characters.first == "=" else { continue }
            characters = characters.dropFirst().drop { $0 == " " }
            var parsed = ""
            if characters.first == "\"" {
                characters = characters.dropFirst()
                var closed = false
                while let next = characters.first {
                    characters = characters.dropFirst()
                    if next == "\\", let escaped = characters.first {
                        parsed.append(escaped)
                        characters = characters.dropFirst()
                    } else if next == "\"" {
                        closed = true
                        break
                    } else {
                        parsed.append(next)
                    }
                }
                guard closed else { throw FormatError(message: "unterminated quoted \(key) in Content-Disposition") }
                characters = characters.drop { $0 == " " }
            } else {
                parsed = token().trimmingCharacters(in: .whitespaces)
            }
            result[key] = parsed
        }
        guard characters.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw FormatError(message: "malformed Content-Disposition: \(value.prefix(80))")
        }
        return result
    }

    /// The index of the first occurrence of `needle` at or after `start` (within `limit` bytes when given).
    /// `memchr` for the first byte and `memcmp` for the rest, because uploads are megabytes and a byte loop is slow
    /// in debug builds.
    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int, limit: Int? = nil) -> Int? {
        let end = min(haystack.count, limit.map { start + $0 } ?? haystack.count)
        guard let first = needle.first, start >= 0, end - start >= needle.count else { return nil }
        return haystack.withUnsafeBufferPointer { hay -> Int? in
            needle.withUnsafeBufferPointer { pattern -> Int? in
                guard let base = hay.baseAddress, let pattern = pattern.baseAddress else { return nil }
                var index = start
                let last = end - needle.count
                while index <= last {
                    guard let hit = memchr(base + index, Int32(first), last - index + 1) else { return nil }
                    let offset = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(hit))
                    if memcmp(base + offset, pattern, needle.count) == 0 { return offset }
                    index = offset + 1
                }
                return nil
            }
        }
    }
}
