import Egress
import Foundation
import GantryCore
import Logging

/// A `FileStore` in an S3-compatible bucket (AWS S3, SeaweedFS, MinIO, Garage…), so every node of a cluster reads
/// and writes the same files.
///
/// - An object appears whole or not at all: S3 makes a PUT visible only once all of it arrived, and a multipart
///   upload only when it is completed.
/// - `putFile` never replaces a file: its PUT carries `If-None-Match: *`, which the store answers with 412 when the
///   key exists. A file larger than `partSize` goes up in parts (read from disk one part at a time); the store is
///   asked first whether the key exists, and the completion carries the same condition. A failed multipart upload
///   is aborted so its parts do not linger.
/// - Keys are the host's own (`yyyy-mm-dd/name.ext`, checked by `isValidFileKey`), used as object names as they are.
public struct S3FileStore: FileStore {
    /// Parts of a multipart upload, and the size above which `putFile` uses one (S3's minimum part is 5 MiB).
    public let partSize: Int
    let client: S3Client
    let logger: Logger?

    /// - Parameters:
    ///   - maxObjectBytes: the largest object `get` reads back (the host's largest upload).
    ///   - partSize: bytes per part of a multipart upload (at least 5 MiB, S3's minimum).
    public init(location: S3Location, maxObjectBytes: Int, partSize: Int = 16 * 1024 * 1024, logger: Logger? = nil) throws {
        guard partSize >= 5 * 1024 * 1024 else { throw ConfigurationError("S3 multipart parts must be at least 5 MiB") }
        client = try S3Client(location: location, maxObjectBytes: maxObjectBytes, logger: logger)
        self.partSize = partSize
        self.logger = logger
    }

    public func put(_ data: Data, key: String, contentType: String) async throws {
        guard isValidFileKey(key) else { throw FileStoreError(.invalidKey, "invalid file key \(key)") }
        let reply = try await send("PUT", key: key, headers: [("content-type", contentType)], body: data, operation: "put \(key)")
        guard reply.status == 200 else { throw io(client.failure(reply, "put \(key)")) }
    }

    public func putFile(at temporaryURL: URL, key: String, contentType: String) async throws {
        guard isValidFileKey(key) else { throw FileStoreError(.invalidKey, "invalid file key \(key)") }
        let size = try fileSize(temporaryURL)
        if size <= partSize {
            let data = try Data(contentsOf: temporaryURL)
            let reply = try await send("PUT", key: key, headers: [("content-type", contentType), ("if-none-match", "*")], body: data,
                                       operation: "put \(key)")
            try checkConditional(reply, key: key, operation: "put")
        } else {
            if try await self.size(key: key) != nil { throw FileStoreError(.exists, "a file already exists under \(key)") }
            try await multipartUpload(from: temporaryURL, size: size, key: key, contentType: contentType)
        }
        try? FileManager.default.removeItem(at: temporaryURL)
    }

    public func get(key: String) async throws -> StoredFile? {
        guard isValidFileKey(key) else { return nil }
        let reply = try await send("GET", key: key, operation: "get \(key)")
        if reply.status == 404 { return nil }
        guard reply.status == 200 else { throw io(client.failure(reply, "get \(key)")) }
        let meta = Self.metadata(key: key, size: reply.body.count, header: reply.header)
        return StoredFile(data: reply.body, contentType: meta.contentType, etag: meta.etag, modified: meta.modified)
    }

    /// How long a streamed GET may take in all: it runs at the pace of the client reading it.
    static let streamTimeout: Double = 3_600

    /// A GET whose body streams from the bucket while it is read; the metadata comes from the reply's headers.
    public func stream(key: String) async throws -> StoredFileStream? {
        guard isValidFileKey(key) else { return nil }
        let reply: StreamedReply
        do {
            reply = try await client.stream("GET", key: key, timeout: Self.streamTimeout, operation: "get \(key)")
        } catch let error as S3Error {
            throw io(error)
        }
        if reply.status == 404 {
            reply.body.cancel()
            return nil
        }
        guard reply.status == 200, let length = reply.header("content-length").flatMap(Int.init) else {
            let answer = (try? await reply.body.collect(limit: 64 << 10)) ?? Data()
            throw io(S3Error(status: reply.status, code: XMLText.first("Code", in: answer) ?? "", operation: "get \(key)"))
        }
        let metadata = Self.metadata(key: key, size: length, header: reply.header)
        let body = reply.body
        let store = self
        return StoredFileStream(metadata: metadata, chunks: FileChunks {
            {
                do {
                    return try await body.next()
                } catch let error as EgressError {
                    throw store.io(S3Error(status: 0, code: "\(error)", operation: "get \(key) (streaming)"))
                }
            }
        })
    }

    public func size(key: String) async throws -> Int? {
        try await metadata(key: key)?.size
    }

    /// A HEAD of the object.
    public func metadata(key: String) async throws -> StoredFileMetadata? {
        guard isValidFileKey(key) else { return nil }
        let reply = try await send("HEAD", key: key, operation: "head \(key)")
        if reply.status == 404 { return nil }
        guard reply.status == 200, let length = reply.header("content-length").flatMap(Int.init) else {
            throw io(client.failure(reply, "head \(key)"))
        }
        return Self.metadata(key: key, size: length, header: reply.header)
    }

    /// A GET with a `Range` header: only those bytes cross the network. (A store that ignores the header and answers
    /// 200 with the whole object is sliced here.)
    public func read(key: String, range: Range<Int>) async throws -> Data? {
        guard isValidFileKey(key) else { return nil }
        guard !range.isEmpty else { return Data() }
        let reply = try await send("GET", key: key, headers: [("range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)")],
                                   operation: "get \(key) bytes \(range)")
        switch reply.status {
        case 206: return reply.body
        case 200: return reply.body.subdata(in: min(range.lowerBound, reply.body.count)..<min(range.upperBound, reply.body.count))
        case 404: return nil
        default: throw io(client.failure(reply, "get \(key) bytes \(range)"))
        }
    }

    /// A presigned GET of the object, when the store was configured with `presign=`.
    public func directURL(key: String, now: Date) -> String? {
        guard let seconds = client.location.presignSeconds else { return nil }
        let path = client.path(key)
        let query = client.signer.presignedQuery(method: "GET", path: path, host: client.location.authority, expires: seconds, at: now)
        return "\(client.location.scheme)://\(client.location.authority)\(path)?\(query)"
    }

    /// The key of a URL of this bucket's objects (`{endpoint}/{bucket}/{key}`, with or without a query).
    public func key(ofDirectURL url: String) -> String? {
        let prefix = client.location.bucketURL + "/"
        guard url.hasPrefix(prefix) else { return nil }
        let key = String(url.dropFirst(prefix.count).prefix { $0 != "?" && $0 != "#" })
        return isValidFileKey(key) ? key : nil
    }

    /// Whether the bucket answers a signed request within 2 s: for `/ready`.
    public func checkReady() async throws {
        let reply = try await send("HEAD", key: "", timeout: 2, operation: "head bucket")
        guard reply.status == 200 else { throw io(client.failure(reply, "head bucket")) }
    }

    // MARK: - Multipart

    private func multipartUpload(from file: URL, size: Int, key: String, contentType: String) async throws {
        let uploadID = try await createUpload(key: key, contentType: contentType)
        do {
            let handle = try FileHandle(forReadingFrom: file)
            defer { try? handle.close() }
            var parts: [(number: Int, etag: String)] = []
            var offset = 0
            while offset < size {
                let chunk = try handle.read(upToCount: min(partSize, size - offset)) ?? Data()
                guard !chunk.isEmpty else { throw FileStoreError(.io, "\(file.lastPathComponent) ended at \(offset) of \(size) bytes") }
                let number = parts.count + 1
                guard let etag = try await uploadPart(key: key, uploadID: uploadID, number: number, data: chunk) else {
                    throw FileStoreError(.io, "the bucket lost multipart upload \(uploadID) of \(key)")
                }
                parts.append((number, etag))
                offset += chunk.count
            }
            if let refusal = try await completeUpload(key: key, uploadID: uploadID, parts: parts) {
                throw FileStoreError(.io, "the bucket refused the parts of \(key): \(refusal)")
            }
        } catch {
            await abortUpload(key: key, uploadID: uploadID)
            throw error
        }
    }

    // MARK: - Helpers

    func send(_ method: String, key: String, query: [(name: String, value: String)] = [],
                      headers: [(name: String, value: String)] = [], body: Data? = nil, timeout: Double? = nil,
                      operation: String) async throws -> HTTPReply {
        do {
            return try await client.send(method, key: key, query: query, headers: headers, body: body, timeout: timeout, operation: operation)
        } catch let error as S3Error {
            throw io(error)
        }
    }

    /// 200 is done; 412 (S3's `PreconditionFailed`) means the key was taken. A 409 (another conditional write to
    /// the key is in flight) is not "exists": that write may still fail, so it is an I/O error the caller reports.
    func checkConditional(_ reply: HTTPReply, key: String, operation: String) throws {
        if reply.status == 200 { return }
        if reply.status == 412 { throw FileStoreError(.exists, "a file already exists under \(key)") }
        throw io(client.failure(reply, "\(operation) \(key)"))
    }

    func io(_ error: S3Error) -> FileStoreError {
        logger?.warning("S3 request failed", metadata: ["error": "\(error)"])
        return FileStoreError(.io, "\(error)")
    }

    private func fileSize(_ url: URL) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
        return (attributes[.size] as? NSNumber)?.intValue ?? 0
    }

    /// What a GET or HEAD reply's headers say of the object (the key's extension gives a missing type).
    static func metadata(key: String, size: Int, header: (String) -> String?) -> StoredFileMetadata {
        StoredFileMetadata(contentType: header("content-type") ?? contentType(forExtension: (key as NSString).pathExtension),
                           etag: header("etag") ?? "\"\(size)\"",
                           modified: httpDate(header("last-modified")) ?? Date(timeIntervalSince1970: 0), size: size)
    }

    /// DateFormatter parses safely from any thread (Foundation documents it as thread-safe).
    private static let httpDateFormat: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter
    }()

    static func httpDate(_ text: String?) -> Date? {
        text.flatMap { httpDateFormat.date(from: $0) }
    }
}
