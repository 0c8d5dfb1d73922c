/// Interprets the header lines curl hands to the header callback, one line per call.
///
/// curl delivers every response it reads on the connection, including interim
/// `1xx` responses, so a status line starts a fresh header set. The decisions that
/// must happen before any body byte is read (declared size, early stop on
/// redirects and errors) are taken at the blank line that ends the headers.
enum HeaderParser {
    /// Records `line` into `state`; returns false to make curl abort the transfer.
    static func consume(_ line: String, into state: TransferState) -> Bool {
        let trimmed = line.trimmingSuffix { $0.isNewline }
        if trimmed.hasPrefix("HTTP/") {
            state.status = statusCode(in: trimmed) ?? 0
            state.headers.removeAll()
            return true
        }
        if trimmed.isEmpty {
            return headersComplete(state)
        }
        if let first = trimmed.first, first == " " || first == "\t", !state.headers.isEmpty {
            // Obsolete line folding: the line continues the previous header's value.
            state.headers[state.headers.count - 1].value += " " + trimmed.trimmingWhitespace()
            return true
        }
        guard let colon = trimmed.firstIndex(of: ":") else { return true }
        let name = String(trimmed[..<colon]).trimmingWhitespace()
        let value = String(trimmed[trimmed.index(after: colon)...]).trimmingWhitespace()
        state.headers.append((name: name, value: value))
        return true
    }

    private static func headersComplete(_ state: TransferState) -> Bool {
        // Interim responses (100 Continue, 103 Early Hints) are followed by the real one.
        guard state.status >= 200 else { return true }
        if state.stopAfterNon2xxHeaders, !(200..<300).contains(state.status) {
            state.stoppedAfterHeaders = true
            return false
        }
        if state.headOnly { return true }
        let declared = state.headers.first { $0.name.lowercased() == "content-length" }?.value
        if let declared, let size = Int(declared), size > state.maxBytes {
            state.declaredTooLarge = size
            return false
        }
        if let declared, !declared.isEmpty, declared.allSatisfy({ $0.isASCII && $0.isNumber }), Int(declared) == nil {
            // Too many digits for an Int: certainly over any cap.
            state.declaredTooLarge = Int.max
            return false
        }
        return true
    }

    private static func statusCode(in line: String) -> Int? {
        let fields = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard fields.count >= 2, fields[1].count == 3 else { return nil }
        return Int(fields[1])
    }
}

extension StringProtocol {
    fileprivate func trimmingSuffix(while predicate: (Character) -> Bool) -> String {
        var end = endIndex
        while end > startIndex, predicate(self[index(before: end)]) { end = index(before: end) }
        return String(self[startIndex..<end])
    }

    fileprivate func trimmingWhitespace() -> String {
        var start = startIndex
        var end = endIndex
        while start < end, self[start] == " " || self[start] == "\t" { start = index(after: start) }
        while end > start, self[index(before: end)] == " " || self[index(before: end)] == "\t" { end = index(before: end) }
        return String(self[start..<end])
    }
}
