import Foundation
import GantryCore
import GantryS3
import NIOCore

/// Multipart uploads straight into the bucket: fal's create, part and complete calls map one to one onto S3's
/// CreateMultipartUpload, UploadPart and CompleteMultipartUpload, so any node of a cluster can take any call of the
/// same upload and nothing is staged on a node's disk longer than one part's PUT.
///
/// - The upload's manifest (tenant, key, content type and the bucket's upload id) is a side object
///   `_gantry/uploads/<id>.json` in the bucket, written once; the id handed to the client is the host's own.
/// - A part is spooled to this node's disk while it arrives (under the part limit), then sent as one UploadPart;
///   its ETag is the bucket's.
/// - Completing lists the bucket's parts first, so a missing part, a wrong ETag or an oversized file is refused
///   with the same errors as the disk staging, naming the entry; the completion itself carries
///   `If-None-Match: *`. The manifest is removed afterwards.
/// - An upload that is never completed stays in the bucket until its lifecycle rule aborts it (the README's
///   Storage section gives the rule); there is no lock against two simultaneous completions, which the bucket
///   resolves: one stores the file, the other finds the upload gone (or the key taken) and answers as a repeated
///   completion does, with the file's URL.
struct BucketMultipartUploads: MultipartUploads {
    let bucket: S3FileStore
    let staging: UploadStaging
    let maxPartBytes: Int
    let maxTotalBytes: Int

    /// S3 refuses parts below this size except the last.
    static let minimumPartBytes = 5 * 1024 * 1024

    func create(tenant: String, key: String, contentType: String, now: Date) async throws -> String {
        let id = Multipart.newID()
        let bucketUpload = try await bucket.createUpload(key: key, contentType: contentType)
        let manifest = MultipartManifest(tenant: tenant, key: key, contentType: contentType, created: now.timeIntervalSince1970,
                                         bucketUpload: bucketUpload)
        do {
            try await bucket.putSideObject(Self.manifestName(id), data: JSONEncoder().encode(manifest))
        } catch {
            await bucket.abortUpload(key: key, uploadID: bucketUpload)
            throw error
        }
        return id
    }

    func load(id: String, tenant: String, key: String) async throws -> MultipartManifest {
        guard Multipart.isID(id), let data = try await bucket.sideObject(Self.manifestName(id)),
              let manifest = try? JSONDecoder().decode(MultipartManifest.self, from: data),
              manifest.bucketUpload != nil, manifest.tenant == tenant, manifest.key == key else {
            throw Multipart.notFound
        }
        return manifest
    }

    func storePart<Body: AsyncSequence>(_ body: Body, number: Int, id: String, manifest: MultipartManifest) async throws -> String
        where Body.Element == ByteBuffer
    {
        guard let bucketUpload = manifest.bucketUpload else { throw Multipart.notFound }
        let spooled = staging.newIncomingFile()
        defer { unlink(spooled.path) }
        _ = try await BodySpool.spool(body, to: spooled, limit: maxPartBytes)
        let data = try Data(contentsOf: spooled)
        guard let etag = try await bucket.uploadPart(key: manifest.key, uploadID: bucketUpload, number: number, data: data) else {
            throw APIError(.notFound, "upload_not_found", "The multipart upload ended while part \(number) was uploading")
        }
        return etag
    }

    func complete(_ parts: [MultipartPart], id: String, manifest: MultipartManifest) async throws {
        guard let bucketUpload = manifest.bucketUpload,
              let uploaded = try await bucket.listParts(key: manifest.key, uploadID: bucketUpload) else { throw Multipart.notFound }
        let byNumber = Dictionary(uploaded.map { ($0.number, $0) }, uniquingKeysWith: { _, last in last })
        let ordered = parts.enumerated().sorted { $0.element.number < $1.element.number }
        var total = 0
        var sizes: [Int] = []
        for (index, part) in ordered {
            guard let stored = byNumber[part.number] else { throw Multipart.partMissing(index, part.number) }
            guard Multipart.normalizedETag(stored.etag) == Multipart.normalizedETag(part.etag) else {
                throw Multipart.etagMismatch(index, part.number)
            }
            total += stored.size
            sizes.append(stored.size)
        }
        guard total <= maxTotalBytes else { throw Multipart.tooLarge(total, limit: maxTotalBytes) }
        let listed = ordered.map { (number: $0.element.number, etag: byNumber[$0.element.number]!.etag) }
        let refusal: S3FileStore.CompletionRefusal?
        do {
            refusal = try await bucket.completeUpload(key: manifest.key, uploadID: bucketUpload, parts: listed)
        } catch let error as FileStoreError where error.code == .exists {
            // The key is this upload's own: a completion that ran at the same time stored the file.
            throw Multipart.notFound
        }
        switch refusal {
        case nil:
            break
        case .noSuchUpload:
            // Completed (or aborted) by a simultaneous call: the route answers as for a repeated completion.
            throw Multipart.notFound
        case .partTooSmall:
            let small = sizes.dropLast().firstIndex { $0 < Self.minimumPartBytes } ?? 0
            throw APIError.field(["body", "parts", "\(ordered[small].offset)", "partNumber"],
                                 "Part \(ordered[small].element.number) is \(sizes[small]) bytes; every part but the last must be at least 5 MiB",
                                 type: "part_too_small", status: .badRequest)
        case .invalidPart:
            throw APIError(.badRequest, "invalid_part", "The bucket refused the list of parts")
        }
        try? await bucket.deleteSideObject(Self.manifestName(id))
    }

    static func manifestName(_ id: String) -> String { "uploads/\(id).json" }
}
