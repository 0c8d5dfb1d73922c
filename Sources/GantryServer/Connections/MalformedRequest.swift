import GantryCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// A request the HTTP/1 parser refused, as the status and envelope the client gets: 431 when the head is too large
/// (too many or too long header lines, or an oversized request line), 400 for everything else.
struct MalformedRequest: Sendable {
    let status: Int
    let envelope: ErrorEnvelope

    /// Nil when `error` is not a parse error.
    init?(_ error: Error) {
        if let conversion = error as? HTTP1TypeConversionError {
            self.status = 400
            self.envelope = ErrorEnvelope("bad_request", "Malformed HTTP request: \(Self.describe(conversion))")
            return
        }
        guard let parser = error as? HTTPParserError else { return nil }
        if parser == .headerOverflow {
            self.status = 431
            self.envelope = ErrorEnvelope("request_header_fields_too_large",
                                          "The request line and headers are too large or too many")
        } else {
            self.status = 400
            self.envelope = ErrorEnvelope("bad_request", "Malformed HTTP request: \(Self.describe(parser))")
        }
    }

    private static func describe(_ error: HTTPParserError) -> String {
        switch error {
        case .invalidChunkSize: "invalid chunk size in a chunked body"
        case .invalidContentLength: "invalid Content-Length"
        case .unexpectedContentLength: "Content-Length given twice, or together with Transfer-Encoding"
        case .invalidVersion: "unsupported HTTP version (HTTP/1.0 and HTTP/1.1 are served)"
        case .invalidMethod: "invalid method"
        case .invalidURL, .invalidPath, .invalidQueryString, .invalidFragment, .invalidHost, .invalidPort: "invalid request target"
        case .invalidHeaderToken, .invalidCharactersUsed: "invalid character in a header"
        case .lfExpected, .invalidConstant: "malformed request line or header framing"
        case .invalidEOFState, .closedConnection: "the connection ended inside a request"
        case .trailingGarbage: "unexpected bytes after the request"
        default: "unparseable request"
        }
    }

    private static func describe(_ error: HTTP1TypeConversionError) -> String {
        switch error {
        case .invalidMethod: "invalid method"
        case .missingPath: "missing request target"
        default: "unparseable request head"
        }
    }
}
