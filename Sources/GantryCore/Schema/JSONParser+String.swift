extension JSONParser {
    /// Parses a string literal starting at the opening quote: escapes decoded, control characters refused,
    /// surrogate pairs combined, invalid UTF-8 refused.
    mutating func parseString() throws -> String {
        index += 1
        var runStart = index
        var output = ""
        while true {
            guard index < count else { throw SyntaxError(offset: index, reason: "unterminated string") }
            let byte = byte(at: index)
            if byte == UInt8(ascii: "\"") {
                output += try text(runStart..<index)
                index += 1
                return output
            }
            if byte < 0x20 { throw SyntaxError(offset: index, reason: "control character in string") }
            if byte != UInt8(ascii: "\\") { index += 1; continue }
            output += try text(runStart..<index)
            index += 1
            guard index < count else { throw SyntaxError(offset: index, reason: "unterminated escape") }
            let escape = self.byte(at: index)
            index += 1
            switch escape {
            case UInt8(ascii: "\""): output.append("\"")
            case UInt8(ascii: "\\"): output.append("\\")
            case UInt8(ascii: "/"): output.append("/")
            case UInt8(ascii: "b"): output.append("\u{08}")
            case UInt8(ascii: "f"): output.append("\u{0C}")
            case UInt8(ascii: "n"): output.append("\n")
            case UInt8(ascii: "r"): output.append("\r")
            case UInt8(ascii: "t"): output.append("\t")
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800...0xDBFF).contains(code) {
                    guard index + 1 < count, self.byte(at: index) == UInt8(ascii: "\\"), self.byte(at: index + 1) == UInt8(ascii: "u") else {
                        throw SyntaxError(offset: index, reason: "unpaired surrogate")
                    }
                    index += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw SyntaxError(offset: index, reason: "unpaired surrogate") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(code) {
                    throw SyntaxError(offset: index, reason: "unpaired surrogate")
                }
                guard let scalar = Unicode.Scalar(code) else { throw SyntaxError(offset: index, reason: "invalid escape") }
                output.unicodeScalars.append(scalar)
            default:
                throw SyntaxError(offset: index - 1, reason: "invalid escape")
            }
            runStart = index
        }
    }

    /// The bytes of an escape-free run of a string, validated as UTF-8.
    private func text(_ range: Range<Int>) throws -> String {
        guard !range.isEmpty else { return "" }
        guard let chunk = String(validating: bytesSlice(range), as: UTF8.self) else {
            throw SyntaxError(offset: range.lowerBound, reason: "invalid UTF-8 in string")
        }
        return chunk
    }

    private mutating func hex4() throws -> UInt32 {
        guard index + 4 <= count else { throw SyntaxError(offset: index, reason: "invalid \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = byte(at: index)
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw SyntaxError(offset: index, reason: "invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }
}
