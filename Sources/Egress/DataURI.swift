import Foundation

/// A parsed `data:[<mediatype>][;base64],<data>` URI (RFC 2397).
///
/// Inputs often arrive inline instead of as a URL; they must obey the same byte
/// cap as downloads, and the cap is checked on the encoded text *before* any
/// decoding so that a huge payload cannot make us allocate its decoded form.
public struct DataURI: Sendable {
    /// The declared media type, `text/plain;charset=US-ASCII` when omitted.
    public var mediaType: String
    /// The decoded payload.
    public var data: Data

    /// Creates a value directly.
    public init(mediaType: String, data: Data) {
        self.mediaType = mediaType
        self.data = data
    }

    /// Whether `string` starts with the `data:` scheme (case-insensitively).
    public static func isDataURI(_ string: String) -> Bool {
        string.utf8.count >= 5 && string.prefix(5).lowercased() == "data:"
    }

    /// Parses and decodes `uri`, refusing payloads whose decoded size would exceed `maxBytes`.
    ///
    /// - Throws: ``EgressError`` `.invalidDataURI` for a malformed URI, bad percent
    ///   escapes or bad base64; `.tooLarge` when the payload is over the cap.
    public static func parse(_ uri: String, maxBytes: Int) throws(EgressError) -> DataURI {
        guard isDataURI(uri) else {
            throw EgressError(.invalidDataURI, "the URI does not start with data:")
        }
        let afterScheme = uri.utf8.dropFirst(5)
        guard let comma = afterScheme.firstIndex(of: UInt8(ascii: ",")) else {
            throw EgressError(.invalidDataURI, "the data: URI has no comma before its payload")
        }
        var header = String(decoding: afterScheme[afterScheme.startIndex..<comma], as: UTF8.self)
        let payload = afterScheme[afterScheme.index(after: comma)...]

        let isBase64 = header.lowercased().hasSuffix(";base64")
        if isBase64 { header.removeLast(7) }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        // RFC 2397: an omitted type means text/plain, and ";charset=..." alone keeps that type.
        let mediaType: String
        if trimmed.isEmpty {
            mediaType = "text/plain;charset=US-ASCII"
        } else if trimmed.hasPrefix(";") {
            mediaType = "text/plain" + trimmed
        } else {
            mediaType = trimmed
        }

        let percentCount = payload.reduce(0) { $0 + ($1 == UInt8(ascii: "%") ? 1 : 0) }
        let encodedLength = payload.count - 2 * percentCount
        let estimatedSize = isBase64 ? encodedLength / 4 * 3 + (encodedLength % 4) : encodedLength
        guard estimatedSize <= maxBytes else {
            throw EgressError(.tooLarge, "the data: URI payload (about \(estimatedSize) bytes) exceeds the \(maxBytes)-byte limit")
        }

        var bytes = try percentDecode(payload)
        if isBase64 {
            bytes.removeAll { $0 == 0x20 || $0 == 0x09 || $0 == 0x0a || $0 == 0x0c || $0 == 0x0d }
            // Padding is optional in practice; Foundation insists on it.
            if bytes.count % 4 == 1 {
                throw EgressError(.invalidDataURI, "the data: URI has invalid base64 (bad length)")
            }
            while bytes.count % 4 != 0 { bytes.append(UInt8(ascii: "=")) }
            guard let decoded = Data(base64Encoded: Data(bytes)) else {
                throw EgressError(.invalidDataURI, "the data: URI has invalid base64")
            }
            bytes = [UInt8](decoded)
        }
        guard bytes.count <= maxBytes else {
            throw EgressError(.tooLarge, "the data: URI payload (\(bytes.count) bytes) exceeds the \(maxBytes)-byte limit")
        }
        return DataURI(mediaType: mediaType, data: Data(bytes))
    }

    private static func percentDecode(_ input: Substring.UTF8View) throws(EgressError) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        var index = input.startIndex
        while index != input.endIndex {
            let byte = input[index]
            guard byte == UInt8(ascii: "%") else {
                output.append(byte)
                index = input.index(after: index)
                continue
            }
            let high = input.index(after: index)
            guard high != input.endIndex, input.index(after: high) != input.endIndex,
                  let h = hexValue(input[high]), let l = hexValue(input[input.index(after: high)]) else {
                throw EgressError(.invalidDataURI, "the data: URI has an invalid percent escape")
            }
            output.append(h << 4 | l)
            index = input.index(high, offsetBy: 2)
        }
        return output
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
