import Foundation
import GantryCore
import Signing

/// `gantry/file/digest`: reads a file (an http(s) URL, a data URI, or a file of the host's own store — such as an
/// upload) and answers its SHA-256, size and content type. It proves the upload → function input path end to end,
/// for files far larger than an image input may be.
public struct FileDigestFunction: HostedFunction {
    /// `{"file_url": …}`.
    public struct Input: Decodable, Sendable {
        /// http(s) URL, data URI, or the URL of a file in this host's store.
        public var fileURL: String

        enum CodingKeys: String, CodingKey {
            case fileURL = "file_url"
        }
    }

    /// `{"sha256", "size", "content_type"}`.
    public struct Output: Encodable, Sendable {
        /// Lowercase hex SHA-256 of the bytes.
        public var sha256: String
        /// Size in bytes.
        public var size: Int
        /// The type the source gave (the store's, the server's `Content-Type`, the data URI's), if any.
        public var contentType: String?

        enum CodingKeys: String, CodingKey {
            case sha256, size, contentType = "content_type"
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(sha256, forKey: .sha256)
            try container.encode(size, forKey: .size)
            // Always present, null when unknown, as the output schema says.
            try container.encode(contentType, forKey: .contentType)
        }
    }

    /// The largest file read (2 GiB).
    public static let maxBytes = 2 * 1024 * 1024 * 1024

    /// The function; it has no settings.
    public init() {}

    /// Reads the file (up to `maxBytes`) and hashes it on a compute thread.
    public func run(_ input: Input, context: RunContext) async throws -> Output {
        let fetched = try await context.fetch(input.fileURL, field: "file_url", maxBytes: Self.maxBytes)
        try Task.checkCancellation()
        let data = fetched.data
        // Hashing a few hundred MiB takes a while: keep it off the cooperative pool.
        let digest = await Compute.shared.run { SHA256.hex(data) }
        await context.log("sha256 of \(data.count) bytes: \(digest)")
        return Output(sha256: digest, size: data.count, contentType: fetched.contentType)
    }
}
