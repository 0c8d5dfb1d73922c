import CCurl

/// A URL that has passed the scheme and credential checks, parsed by libcurl's
/// own URL parser.
///
/// Using the same parser that performs the request means the host we check is the
/// host curl connects to; two parsers that disagree about odd inputs (backslashes,
/// extra `@`, numeric hosts) are the classic way SSRF filters get bypassed.
struct EgressURL: Sendable, CustomStringConvertible {
    /// The normalized absolute URL handed to curl.
    let absolute: String
    /// `http` or `https`.
    let scheme: String
    /// The host as curl will look it up, without IPv6 brackets or zone id.
    let host: String
    /// The explicit or default port.
    let port: Int
    /// The host when it is an address literal (in any spelling), else nil.
    let literalAddress: IPAddress?

    var description: String { absolute }

    /// Parses `text`, resolving it against `base` when it is relative (a redirect's Location).
    static func parse(_ text: String, relativeTo base: EgressURL? = nil) throws(EgressError) -> EgressURL {
        guard let handle = curl_url() else { throw EgressError(.transport, "out of memory parsing a URL") }
        defer { curl_url_cleanup(handle) }
        let flags = UInt32(CURLU_NON_SUPPORT_SCHEME)
        if let base {
            guard curl_url_set(handle, CURLUPART_URL, base.absolute, flags) == CURLUE_OK else {
                throw EgressError(.invalidURL, "the URL \(base.absolute) could not be parsed")
            }
        }
        let status = curl_url_set(handle, CURLUPART_URL, text, flags)
        guard status == CURLUE_OK else {
            if base == nil, let scheme = rawScheme(of: text), !allowedSchemes.contains(scheme) {
                throw forbiddenScheme(scheme)
            }
            throw EgressError(.invalidURL, "the URL \(quoted(text)) is not valid (\(describe(status)))")
        }
        let scheme = (part(handle, CURLUPART_SCHEME) ?? "").lowercased()
        guard allowedSchemes.contains(scheme) else { throw forbiddenScheme(scheme) }
        if part(handle, CURLUPART_USER) != nil || part(handle, CURLUPART_PASSWORD) != nil
            || part(handle, CURLUPART_OPTIONS) != nil {
            throw EgressError(.credentialsInURL, "URLs with a user name or password are not allowed")
        }
        // Punycode, because that is the name curl itself looks up and caches, so the
        // pinned CURLOPT_RESOLVE entry matches it. Builds without working IDN refuse
        // the conversion; the raw name then simply fails to resolve (fail closed).
        let hostPart = part(handle, CURLUPART_HOST, flags: UInt32(CURLU_PUNYCODE)) ?? part(handle, CURLUPART_HOST)
        guard var host = hostPart, !host.isEmpty else {
            throw EgressError(.invalidURL, "the URL \(quoted(text)) has no host")
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if let zone = host.firstIndex(of: "%") { host = String(host[..<zone]) }
        guard let portText = part(handle, CURLUPART_PORT, flags: UInt32(CURLU_DEFAULT_PORT)),
              let port = Int(portText), (1...65535).contains(port) else {
            throw EgressError(.invalidURL, "the URL \(quoted(text)) has an invalid port")
        }
        guard let absolute = part(handle, CURLUPART_URL) else {
            throw EgressError(.invalidURL, "the URL \(quoted(text)) could not be normalized")
        }
        return EgressURL(
            absolute: absolute, scheme: scheme, host: host, port: port,
            literalAddress: IPAddress.parse(host)
        )
    }

    private static let allowedSchemes: Set<String> = ["http", "https"]

    private static func forbiddenScheme(_ scheme: String) -> EgressError {
        EgressError(.forbiddenScheme, "the \(scheme.isEmpty ? "missing" : scheme) scheme is not allowed; use http or https")
    }

    /// The scheme of a URL that curl refused to parse, so that `file:` or `gopher:` is
    /// still reported as a forbidden scheme rather than as a malformed URL.
    private static func rawScheme(of text: String) -> String? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let candidate = text[..<colon]
        guard let first = candidate.first, first.isASCII, first.isLetter,
              candidate.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }) else {
            return nil
        }
        return candidate.lowercased()
    }

    private static func part(_ handle: OpaquePointer, _ which: CURLUPart, flags: UInt32 = 0) -> String? {
        var pointer: UnsafeMutablePointer<CChar>?
        guard curl_url_get(handle, which, &pointer, flags) == CURLUE_OK, let pointer else { return nil }
        defer { curl_free(pointer) }
        return String(cString: pointer)
    }

    private static func describe(_ status: CURLUcode) -> String {
        guard let text = curl_url_strerror(status) else { return "code \(status.rawValue)" }
        return String(cString: text)
    }

    /// Keeps error messages readable when someone submits a megabyte of garbage.
    private static func quoted(_ text: String) -> String {
        text.count > 200 ? String(text.prefix(200)) + "…" : text
    }
}
