/// Why an outbound request was refused or failed.
///
/// `code` is stable and machine-readable (the server maps it onto API error
/// codes); `message` is a sentence for the person who submitted the URL. Messages
/// name the reason and the offending host or address, never local file paths or
/// libcurl internals.
public struct EgressError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The category of failure.
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// The URL scheme is not http or https (file, gopher, ftp, dict...).
        case forbiddenScheme = "forbidden_scheme"
        /// The host resolved to, or the client was about to connect to, a refused address.
        case forbiddenAddress = "forbidden_address"
        /// The URL carries a user name or password.
        case credentialsInURL = "credentials_in_url"
        /// The URL could not be parsed or has no host.
        case invalidURL = "invalid_url"
        /// The host name did not resolve; refused rather than retried another way.
        case dnsFailure = "dns_failure"
        /// No TCP connection could be made to any checked address.
        case connectFailed = "connect_failed"
        /// The connect timeout or the whole-request deadline passed.
        case timeout
        /// The response (declared or streamed) is larger than the byte cap.
        case tooLarge = "too_large"
        /// More redirects than the limit allows.
        case tooManyRedirects = "too_many_redirects"
        /// The server answered with an error status (or a redirect without a usable Location).
        case httpStatus = "http_status"
        /// A `data:` URI is malformed or its base64 is invalid.
        case invalidDataURI = "invalid_data_uri"
        /// The request itself is malformed (for example a header containing a line break).
        case invalidRequest = "invalid_request"
        /// Any other network or TLS failure.
        case transport
        /// The calling task was cancelled.
        case cancelled
    }

    /// The category of failure.
    public let code: Code
    /// A human sentence naming the reason.
    public let message: String
    /// The HTTP status when `code` is `.httpStatus`.
    public let httpStatus: Int?

    /// Creates an error; `httpStatus` is only meaningful for `.httpStatus`.
    public init(_ code: Code, _ message: String, httpStatus: Int? = nil) {
        self.code = code
        self.message = message
        self.httpStatus = httpStatus
    }

    /// `code: message`, e.g. `forbidden_address: loopback address 127.0.0.1 is not allowed`.
    public var description: String { "\(code.rawValue): \(message)" }
}
