import Foundation

/// Caps applied to every fetch; `send` uses the byte cap and connect timeout but its own total timeout.
public struct EgressLimits: Sendable, Hashable {
    /// Largest response body accepted, in bytes (default 50 MiB).
    public var maxBytes: Int
    /// Seconds allowed to establish each TCP (and TLS) connection (default 10).
    public var connectTimeout: Double
    /// Seconds allowed for the whole fetch, DNS and every redirect hop included (default 60).
    public var totalTimeout: Double
    /// Redirects followed before giving up (default 3: the fourth fails).
    public var maxRedirects: Int

    /// Creates limits; the defaults suit image inputs.
    public init(
        maxBytes: Int = 50 * 1024 * 1024,
        connectTimeout: Double = 10,
        totalTimeout: Double = 60,
        maxRedirects: Int = 3
    ) {
        self.maxBytes = maxBytes
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.maxRedirects = maxRedirects
    }
}

/// The body of a successful fetch.
public struct FetchedResource: Sendable {
    /// The response body (or the decoded `data:` payload).
    public var data: Data
    /// The Content-Type header (or the `data:` media type), if any.
    public var contentType: String?
    /// The URL the body finally came from, after redirects.
    public var finalURL: String

    /// Creates a fetched resource.
    public init(data: Data, contentType: String?, finalURL: String) {
        self.data = data
        self.contentType = contentType
        self.finalURL = finalURL
    }
}

/// The raw outcome of one ``EgressClient/send(method:url:headers:body:timeout:)`` request.
public struct HTTPReply: Sendable {
    /// The final HTTP status (redirects are returned as they are).
    public var status: Int
    /// Response headers in the order received, names as the server spelled them.
    public var headers: [(name: String, value: String)]
    /// The response body, up to the byte cap.
    public var body: Data

    /// Creates a reply.
    public init(status: Int, headers: [(name: String, value: String)], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of header `name`, compared case-insensitively.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }
}
