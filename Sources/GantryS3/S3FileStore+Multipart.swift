import Foundation
import GantryCore

/// One uploaded part of a multipart upload, as the bucket lists it.
public struct S3UploadedPart: Sendable, Equatable {
    public var number: Int
    /// Quoted, as S3 sends it.
    public var etag: String
    public var size: Int
}

/// S3's multipart upload, step by step, for callers that receive the parts over time (fal's multipart upload API
/// maps one to one onto it: create, put each part, complete with the client's list), and the small side objects
/// that describe such uploads while they last.
extension S3FileStore {
    /// Starts a multipart upload of `key`; returns the bucket's upload id.
    public func createUpload(key: String, contentType: String) async throws -> String {
        guard isValidFileKey(key) else { throw FileStoreError(.invalidKey, "invalid file key \(key)") }
        let created = try await send("POST", key: key, query: [("uploads", "")], headers: [("content-type", contentType)],
                                     operation: "create multipart \(key)")
        guard created.status == 200, let uploadID = XMLText.first("UploadId", in: created.body), !uploadID.isEmpty else {
            throw io(client.failure(created, "create multipart \(key)"))
        }
        return uploadID
    }

    /// Stores part `number` (1…10000) of an upload; returns its ETag (quoted). Nil when the bucket knows no such
    /// upload (completed or aborted meanwhile).
    public func uploadPart(key: String, uploadID: String, number: Int, data: Data) async throws -> String? {
        let reply = try await send("PUT", key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)], body: data,
                                   operation: "upload part \(number) of \(key)")
        if reply.status == 404 { return nil }
        guard reply.status == 200, let etag = reply.header("etag") else { throw io(client.failure(reply, "upload part \(number) of \(key)")) }
        return etag
    }

    /// The parts uploaded so far, by part number; nil when the bucket knows no such upload.
    public func listParts(key: String, uploadID: String) async throws -> [S3UploadedPart]? {
        var parts: [S3UploadedPart] = []
        var marker = 0
        while true {
            var query = [(name: "uploadId", value: uploadID)]
            if marker > 0 { query.append(("part-number-marker", String(marker))) }
            let reply = try await send("GET", key: key, query: query, operation: "list parts of \(key)")
            if reply.status == 404 { return nil }
            guard reply.status == 200 else { throw io(client.failure(reply, "list parts of \(key)")) }
            for element in XMLText.all("Part", in: reply.body) {
                guard let number = XMLText.first("PartNumber", in: element).flatMap(Int.init),
                      let etag = XMLText.first("ETag", in: element),
                      let size = XMLText.first("Size", in: element).flatMap(Int.init) else { continue }
                parts.append(S3UploadedPart(number: number, etag: etag, size: size))
            }
            guard XMLText.first("IsTruncated", in: reply.body) == "true",
                  let next = XMLText.first("NextPartNumberMarker", in: reply.body).flatMap(Int.init), next > marker else { break }
            marker = next
        }
        return parts.sorted { $0.number < $1.number }
    }

    /// Why a completion was refused, when the bucket says it was the client's list.
    public enum CompletionRefusal: Sendable, Equatable {
        /// A listed part is smaller than S3's 5 MiB minimum and is not the last one (`EntityTooSmall`).
        case partTooSmall
        /// A listed part was not uploaded, or its ETag does not match (`InvalidPart`, `InvalidPartOrder`).
        case invalidPart
        /// The bucket knows no such upload (`NoSuchUpload`): completed or aborted meanwhile.
        case noSuchUpload
    }

    /// Completes an upload with `parts` (ascending part numbers) unless a file exists under `key`
    /// (`FileStoreError.exists`). Returns a refusal the client caused, or nil when the file is stored.
    public func completeUpload(key: String, uploadID: String, parts: [(number: Int, etag: String)]) async throws -> CompletionRefusal? {
        let manifest = "<CompleteMultipartUpload>" + parts.map {
            "<Part><PartNumber>\($0.number)</PartNumber><ETag>\(XMLText.escape($0.etag))</ETag></Part>"
        }.joined() + "</CompleteMultipartUpload>"
        let completed = try await send("POST", key: key, query: [("uploadId", uploadID)],
                                       headers: [("content-type", "application/xml"), ("if-none-match", "*")],
                                       body: Data(manifest.utf8), operation: "complete multipart \(key)")
        let code = XMLText.first("Code", in: completed.body)
        switch code {
        case "EntityTooSmall": return .partTooSmall
        case "InvalidPart", "InvalidPartOrder": return .invalidPart
        case "NoSuchUpload": return .noSuchUpload
        default: break
        }
        if completed.status == 404 { return .noSuchUpload }
        // A completion can fail with 200 and an <Error> body (S3 answers before it has assembled the object).
        if completed.status == 200, let code {
            throw io(S3Error(status: 200, code: code, operation: "complete multipart \(key)"))
        }
        try checkConditional(completed, key: key, operation: "complete multipart")
        return nil
    }

    /// Aborts an upload so its parts do not linger; detached, so a cancelled caller still aborts. Logs (and
    /// otherwise ignores) a failure: the bucket's lifecycle rule is the backstop.
    public func abortUpload(key: String, uploadID: String) async {
        let aborted = await Task.detached { [self] in
            try? await send("DELETE", key: key, query: [("uploadId", uploadID)], operation: "abort multipart \(key)")
        }.value
        if aborted.map({ $0.status != 204 && $0.status != 200 && $0.status != 404 }) ?? true {
            logger?.warning("could not abort a multipart upload; its parts stay until the bucket's lifecycle removes them",
                            metadata: ["key": "\(key)", "upload": "\(uploadID)"])
        }
    }

    // MARK: - Side objects

    /// The prefix of the host's own small objects (descriptions of uploads in progress). It is not a day, so no
    /// file key (`yyyy-mm-dd/name`) can name one, and `/files/…` never serves them.
    public static let sidePrefix = "_gantry/"

    /// Writes a side object `name` (letters, digits, `-`, `_`, `.`, `/`) unless one exists (`FileStoreError.exists`).
    public func putSideObject(_ name: String, data: Data) async throws {
        let key = try sideKey(name)
        let reply = try await send("PUT", key: key, headers: [("content-type", "application/json"), ("if-none-match", "*")], body: data,
                                   operation: "put \(key)")
        try checkConditional(reply, key: key, operation: "put")
    }

    /// The side object `name`, or nil.
    public func sideObject(_ name: String) async throws -> Data? {
        let key = try sideKey(name)
        let reply = try await send("GET", key: key, operation: "get \(key)")
        if reply.status == 404 { return nil }
        guard reply.status == 200 else { throw io(client.failure(reply, "get \(key)")) }
        return reply.body
    }

    /// Removes the side object `name` (gone already is fine).
    public func deleteSideObject(_ name: String) async throws {
        let key = try sideKey(name)
        let reply = try await send("DELETE", key: key, operation: "delete \(key)")
        guard [200, 204, 404].contains(reply.status) else { throw io(client.failure(reply, "delete \(key)")) }
    }

    private func sideKey(_ name: String) throws -> String {
        guard !name.isEmpty, !name.hasPrefix("/"), !name.contains(".."),
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_./".contains($0)) }) else {
            throw FileStoreError(.invalidKey, "invalid side object name \(name)")
        }
        return Self.sidePrefix + name
    }
}
