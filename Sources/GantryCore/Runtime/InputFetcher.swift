import Foundation

/// Bytes fetched for a function input (an http(s) URL, a `data:` URI, or a file of the host's own store).
public struct FetchedInput: Sendable {
    public var data: Data
    public var contentType: String?

    public init(data: Data, contentType: String?) {
        self.data = data
        self.contentType = contentType
    }

    /// The size cap of one input unless a function asks for another (50 MiB, the egress default).
    public static let defaultMaxBytes = 50 * 1024 * 1024
}

/// Why an input could not be fetched: a short code (`forbidden_address`, `too_large`, …) and a sentence.
public struct InputFetchError: Error, Sendable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// Fetches function inputs under the host's egress policy. The server wires it to libcurl.
public protocol InputFetcher: Sendable {
    /// Fetches under the fetcher's own size cap.
    func fetch(_ url: String) async throws -> FetchedInput
    /// Fetches under `maxBytes` when given (larger or smaller than the fetcher's own cap).
    func fetch(_ url: String, maxBytes: Int?) async throws -> FetchedInput
}

extension InputFetcher {
    /// For fetchers without a cap of their own: fetches, then refuses a body over `maxBytes`.
    public func fetch(_ url: String, maxBytes: Int?) async throws -> FetchedInput {
        let input = try await fetch(url)
        if let maxBytes, input.data.count > maxBytes {
            throw InputFetchError(code: "too_large", message: "input is larger than \(maxBytes) bytes")
        }
        return input
    }
}
