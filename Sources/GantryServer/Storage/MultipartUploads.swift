import Foundation
import Signing
import GantryCore
import NIOCore

/// What a multipart upload becomes, and whose it is.
struct MultipartManifest: Codable, Sendable {
    var tenant: String
    var key: String
    var contentType: String
    var created: Double
    /// The bucket's own upload id, when the parts go straight into the bucket.
    var bucketUpload: String?
}

/// One entry of the client's `complete` list.
struct MultipartPart: Sendable, Equatable {
    var number: Int
    var etag: String
}

/// fal's multipart uploads (create, one PUT per part, complete with the list of parts), kept where the file store
/// can take them: parts staged on this host's disk for the local store (`DiskMultipartUploads`), or sent straight
/// into the bucket's own multipart upload for S3 (`BucketMultipartUploads`), so that in a cluster any node can take
/// any part and the completion.
///
/// Every way to fail answers as fal's clients expect: 404 `upload_not_found` for an upload that is not this
/// tenant's (or no longer exists), 400 naming the entry of the list for a part that was not uploaded or whose ETag
/// differs, 413 over the assembled-file limit.
protocol MultipartUploads: Sendable {
    /// Starts an upload of `key` for `tenant`; returns its id.
    func create(tenant: String, key: String, contentType: String, now: Date) async throws -> String
    /// The manifest of upload `id` of `key` by `tenant`; 404 for anything else, unknown ids included.
    func load(id: String, tenant: String, key: String) async throws -> MultipartManifest
    /// Stores one part; returns its ETag (quoted, as the header carries it).
    func storePart<Body: AsyncSequence>(_ body: Body, number: Int, id: String, manifest: MultipartManifest) async throws -> String
        where Body.Element == ByteBuffer
    /// Assembles the listed parts (sorted by part number) into the file store under the manifest's key.
    func complete(_ parts: [MultipartPart], id: String, manifest: MultipartManifest) async throws
}

/// The limits of fal's (and S3's) multipart uploads, and the checks both kinds share.
enum Multipart {
    static let maxPartNumber = 10_000

    /// A fresh upload id: 32 lower-case hex digits.
    static func newID() -> String {
        UUID.secureRandom().lowercasedString.replacingOccurrences(of: "-", with: "")
    }

    /// Whether `text` has the shape of the ids (and disk ETags) this host makes, so a path parameter can never
    /// name anything else.
    static func isID(_ text: String) -> Bool {
        text.count == 32 && text.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    /// An ETag as a client may send it back: with or without quotes or a weak prefix.
    static func normalizedETag(_ etag: String) -> String {
        var text = etag.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("W/") { text.removeFirst(2) }
        return text.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }

    static let notFound = APIError(.notFound, "upload_not_found", "No multipart upload with this id for this file")

    static func partMissing(_ index: Int, _ number: Int) -> APIError {
        APIError.field(["body", "parts", "\(index)", "partNumber"], "Part \(number) was not uploaded", type: "part_missing", status: .badRequest)
    }

    static func etagMismatch(_ index: Int, _ number: Int) -> APIError {
        APIError.field(["body", "parts", "\(index)", "etag"], "ETag does not match part \(number)", type: "etag_mismatch", status: .badRequest)
    }

    static func tooLarge(_ total: Int, limit: Int) -> APIError {
        APIError(.contentTooLarge, "request_too_large", "The assembled upload would be \(total) bytes; the limit is \(limit)")
    }
}
