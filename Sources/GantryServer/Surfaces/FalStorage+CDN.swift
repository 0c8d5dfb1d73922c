import Foundation
import GantryCore
import HTTPTypes
import Hummingbird
import NIOCore

/// The CDN side of fal's storage API: single-shot and multipart uploads, authenticated by a storage token or an
/// API key.
extension FalStorage {
    /// `POST /files/upload`: the body is the file; `Content-Type` its type; `X-Fal-File-Name` (optional) gives the
    /// extension. Answers `{"access_url"}`.
    func upload(_ request: Request) async throws -> Response {
        let tenant = try auth.tenant(of: request)
        let (key, contentType) = newKey(for: request, tenant: tenant)
        try await receive(request, key: key, contentType: contentType)
        return .json(.object(["access_url": .string(fileURL(key))]))
    }

    /// `POST /files/upload/multipart` (empty body) → `{"access_url", "uploadId"}`; the file appears at `access_url`
    /// once the upload completes.
    func createMultipart(_ request: Request) async throws -> Response {
        let tenant = try auth.tenant(of: request)
        let (key, contentType) = newKey(for: request, tenant: tenant)
        let id = try await multipart.create(tenant: tenant, key: key, contentType: contentType, now: now())
        return .json(.object(["access_url": .string(fileURL(key)), "uploadId": .string(id)]))
    }

    /// `PUT {access_url}/multipart/{uploadId}/{partNumber}`: stores one part (at most `maxUploadBytes`) and answers
    /// its `ETag` header, which `complete` must list.
    func uploadPart(_ request: Request, context: GantryRequestContext) async throws -> Response {
        let (id, manifest) = try await openMultipart(request, context: context)
        guard let raw = context.parameters.get("partNumber"), let number = Int(raw), (1...Multipart.maxPartNumber).contains(number) else {
            throw APIError.field(["path", "partNumber"], "partNumber must be an integer from 1 to \(Multipart.maxPartNumber)",
                                 type: "value_error", status: .badRequest)
        }
        try BodySpool.checkDeclaredLength(request.headers[.contentLength], limit: maxUploadBytes)
        let etag = try await multipart.storePart(request.body, number: number, id: id, manifest: manifest)
        return .json(.object(["partNumber": .number(Double(number)), "etag": .string(etag)]), headers: [.eTag: etag])
    }

    /// `POST {access_url}/multipart/{uploadId}/complete` with `{"parts": [{"partNumber", "etag"}, …]}` in any order
    /// (`fal_client` lists them as they finished): assembles them sorted by part number → `{"access_url"}`.
    ///
    /// Completing again after success answers the same (a client whose first answer was lost retries); while a
    /// completion runs on disk, another gets a 409, which `fal_client` retries.
    func completeMultipart(_ request: Request, context: GantryRequestContext) async throws -> Response {
        let key = try pathKey(context)
        let manifest: MultipartManifest, parts: [MultipartPart]
        do {
            let (id, opened) = try await openMultipart(request, context: context)
            manifest = opened
            parts = try await Self.readPartList(request)
            try await multipart.complete(parts, id: id, manifest: manifest)
        } catch let error as APIError where error.errorType == "upload_not_found" {
            // Completed already (a retry whose first answer was lost): the file is there.
            guard try await files.size(key: key) != nil else { throw error }
            return .json(.object(["access_url": .string(fileURL(key))]))
        } catch let error as FileStoreError where error.code == .exists {
            throw APIError(.forbidden, "already_uploaded", "A file was already stored under this upload's URL")
        }
        context.logger.info("multipart upload completed", metadata: ["key": "\(manifest.key)", "parts": "\(parts.count)"])
        return .json(.object(["access_url": .string(fileURL(manifest.key))]))
    }

    /// A fresh tenant-tagged key for an upload request, and the content type it is stored with.
    private func newKey(for request: Request, tenant: String) -> (key: String, contentType: String) {
        let contentType = Self.contentType(request.headers[.contentType])
        let ext = FileNaming.fileExtension(fileName: request.headers[.falFileName], contentType: contentType)
        return (naming.makeKey(tenant: tenant, fileExtension: ext, now: now()), contentType)
    }

    /// Authenticates a multipart request and finds its upload. A credential of another tenant than the file's is
    /// refused outright (401) — the file name says whose it is, so that reveals nothing about the upload id.
    private func openMultipart(_ request: Request, context: GantryRequestContext) async throws -> (String, MultipartManifest) {
        let tenant = try auth.tenant(of: request)
        let key = try pathKey(context)
        guard naming.isReadable(key: key, by: tenant) else {
            throw StorageAuth.unauthorized("This credential does not grant access to this upload")
        }
        let id = context.parameters.get("uploadId") ?? ""
        return (id, try await multipart.load(id: id, tenant: tenant, key: key))
    }

    /// Parses `{"parts": [{"partNumber": n, "etag": "…"}, …]}`; 400 naming the entry for anything malformed, empty
    /// or listed twice.
    static func readPartList(_ request: Request) async throws -> [MultipartPart] {
        let buffer = try await request.bodyUpTo(1 << 20, what: "The part list")
        let body: JSONValue
        do {
            body = try JSONValue.parse(Data(buffer: buffer))
        } catch {
            throw APIError.field(["body"], "Body is not valid JSON", type: "json_invalid", status: .badRequest)
        }
        guard let entries = body["parts"]?.arrayValue, !entries.isEmpty else {
            throw APIError.field(["body", "parts"], "parts must be a non-empty list of {partNumber, etag}", type: "value_error", status: .badRequest)
        }
        var seen = Set<Int>()
        return try entries.enumerated().map { index, entry in
            let loc = ["body", "parts", "\(index)"]
            guard let value = entry["partNumber"]?.doubleValue, value == value.rounded(), value >= 1,
                  value <= Double(Multipart.maxPartNumber) else {
                throw APIError.field(loc + ["partNumber"], "partNumber must be an integer from 1 to \(Multipart.maxPartNumber)",
                                     type: "value_error", status: .badRequest)
            }
            guard let etag = entry["etag"]?.stringValue else {
                throw APIError.field(loc + ["etag"], "etag must be the string the part upload answered", type: "string_type", status: .badRequest)
            }
            guard seen.insert(Int(value)).inserted else {
                throw APIError.field(loc + ["partNumber"], "Part \(Int(value)) is listed twice", type: "value_error", status: .badRequest)
            }
            return MultipartPart(number: Int(value), etag: etag)
        }
    }
}
