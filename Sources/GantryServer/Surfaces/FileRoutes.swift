import Foundation
import GantryCore
import HTTPTypes
import Hummingbird

/// `GET /files/{yyyy-mm-dd}/{name}`: serves the file store with its content type, length, a strong ETag and
/// long-lived caching (files never change under a key), and one byte range when asked (`ByteRange`). An image is re-encoded when `Accept` names exactly one
/// image format (`FileNegotiation`, Fooocus-API's behaviour), within `FileConversions`' bounds.
struct FileRoutes: Sendable {
    let files: any FileStore
    let conversions: FileConversions

    func register(on router: RouteTable) {
        router.get("/files/:day/:name") { request, context in
            let key = "\(context.parameters.get("day") ?? "")/\(context.parameters.get("name") ?? "")"
            guard isValidFileKey(key) else { throw APIError(.notFound, "file_not_found", "File not found") }
            if request.headers[.range] != nil, let partial = try await rangeOnly(request, key: key) { return partial }
            guard let opened = try await files.stream(key: key) else {
                throw APIError(.notFound, "file_not_found", "File not found")
            }
            let meta = opened.metadata
            var headers = HTTPFields()
            // Fooocus-API's Accept-based conversion (FileNegotiation), bounded by `conversions`; a representation
            // varies with Accept. A conditional request for a converted representation is answered before converting.
            if FileNegotiation.isConvertible(meta.contentType) {
                headers[.vary] = "Accept"
                if let format = FileNegotiation.requestedFormat(request.headers[.accept]),
                   format.contentType != meta.contentType.lowercased() {
                    let variant = FileNegotiation.variantETag(meta.etag, format)
                    if let match = request.headers[.ifNoneMatch], match == variant {
                        headers[.eTag] = variant
                        return Response(status: .notModified, headers: headers)
                    }
                    var file = try await opened.collect()
                    switch await conversions.convert(file, to: format) {
                    case .converted(let converted): file = converted
                    case .asStored: break
                    case .busy:
                        throw APIError(.serviceUnavailable, "conversion_busy", "Too many image conversions in progress; retry shortly",
                                       headers: [.retryAfter: "1"])
                    }
                    let stored = file
                    let converted = StoredFileMetadata(contentType: file.contentType, etag: file.etag, modified: file.modified, size: file.data.count)
                    return try await Self.answer(request, meta: converted, headers: headers) { range in
                        range.map { stored.data.subdata(in: $0) } ?? stored.data
                    }
                }
            }
            // As stored: the whole file streams from the store while the client reads it.
            return try await Self.answer(request, meta: meta, headers: headers, whole: opened.chunks) { range in
                let data = try await opened.collect().data
                return range.map { data.subdata(in: $0) } ?? data
            }
        }
    }
}

extension FileRoutes {
    /// A byte range of a file served as it is stored, read without the rest of the file (`FileStore.read`); nil
    /// when the whole-file path must answer: an image being converted for `Accept`, a range that asks for the whole
    /// file, or a stale `If-Range`.
    func rangeOnly(_ request: Request, key: String) async throws -> Response? {
        guard let meta = try await files.metadata(key: key) else { throw APIError(.notFound, "file_not_found", "File not found") }
        if FileNegotiation.isConvertible(meta.contentType),
           let format = FileNegotiation.requestedFormat(request.headers[.accept]), format.contentType != meta.contentType.lowercased() {
            return nil
        }
        var headers = HTTPFields()
        if FileNegotiation.isConvertible(meta.contentType) { headers[.vary] = "Accept" }
        if case .whole = ByteRange.select(request.headers[.range], ifRange: request.headers[.ifRange], etag: meta.etag, size: meta.size) {
            return nil
        }
        return try await Self.answer(request, meta: meta, headers: headers) { range in
            try await files.read(key: key, range: range ?? 0..<meta.size)
        }
    }

    /// The answer for a file: 304 for a matching `If-None-Match`, else the whole file (200), one range of it (206), or
    /// 416 past its end. `bytes` gives the whole file (nil) or a range of it; `whole`, when given, streams the whole
    /// file instead.
    static func answer(_ request: Request, meta: StoredFileMetadata, headers: HTTPFields, whole: FileChunks? = nil,
                       bytes: (Range<Int>?) async throws -> Data?) async throws -> Response {
        var headers = headers
        headers[.eTag] = meta.etag
        headers[.cacheControl] = "public, max-age=31536000, immutable"
        headers[.lastModified] = httpDate(meta.modified)
        if let match = request.headers[.ifNoneMatch], match == meta.etag || match == "*" {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = meta.contentType
        // Uploads are user content: browsers must not sniff a type other than the one the extension gives.
        headers[HTTPField.Name("x-content-type-options")!] = "nosniff"
        headers[.acceptRanges] = "bytes"
        let missing = APIError(.notFound, "file_not_found", "File not found")
        switch ByteRange.select(request.headers[.range], ifRange: request.headers[.ifRange], etag: meta.etag, size: meta.size) {
        case .whole:
            if let whole {
                headers[.contentLength] = String(meta.size)
                return Response(status: .ok, headers: headers, body: body(whole, size: meta.size))
            }
            guard let data = try await bytes(nil) else { throw missing }
            headers[.contentLength] = String(data.count)
            return Response(status: .ok, headers: headers, body: body(data))
        case .part(let range):
            guard let data = try await bytes(range), data.count == range.count else { throw missing }
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(meta.size)"
            headers[.contentLength] = String(range.count)
            return Response(status: .partialContent, headers: headers, body: body(data))
        case .unsatisfiable:
            throw APIError(.rangeNotSatisfiable, "range_not_satisfiable", "The range is outside the file's \(meta.size) bytes",
                           headers: [.contentRange: "bytes */\(meta.size)"])
        }
    }

    /// Bytes per write when streaming a file.
    static let chunkSize = 256 * 1024

    /// Small files in one buffer; larger ones written a chunk at a time as the client reads, so a slow or
    /// abandoned download holds one chunk, not a copy of the file.
    static func body(_ data: Data) -> ResponseBody {
        guard data.count > chunkSize else { return ResponseBody(byteBuffer: ByteBuffer(data: data)) }
        return ResponseBody(contentLength: data.count) { writer in
            var offset = 0
            while offset < data.count {
                let end = min(offset + chunkSize, data.count)
                try await writer.write(ByteBuffer(data: data[offset..<end]))
                offset = end
            }
            try await writer.finish(nil)
        }
    }
}

extension FileRoutes {
    /// A file written as its chunks arrive from the store, in pieces of at most `chunkSize`. A store that ends early
    /// or sends more than `size` fails the response (the client sees a cut connection, never a wrong file).
    static func body(_ chunks: FileChunks, size: Int) -> ResponseBody {
        ResponseBody(contentLength: size) { writer in
            var written = 0
            for try await chunk in chunks {
                var offset = chunk.startIndex
                while offset < chunk.endIndex {
                    let end = min(offset + chunkSize, chunk.endIndex)
                    try await writer.write(ByteBuffer(data: chunk[offset..<end]))
                    offset = end
                }
                written += chunk.count
                guard written <= size else { throw FileStoreError(.io, "the store sent more than the file's \(size) bytes") }
            }
            guard written == size else { throw FileStoreError(.io, "the store sent \(written) of the file's \(size) bytes") }
            try await writer.finish(nil)
        }
    }
}

/// An RFC 9110 HTTP-date (`Sun, 06 Nov 1994 08:49:37 GMT`).
func httpDate(_ date: Date) -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "GMT")
    formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
    return formatter.string(from: date)
}

/// Which bytes of a file a `Range` header asks for (RFC 9110 §14): one range of `bytes`, as `first-last`, `first-`
/// or `-suffix`. Anything else — another unit, several ranges, a malformed value — is answered with the whole
/// file, which the RFC allows a server to do. `If-Range` with any other validator than the file's ETag also gets
/// the whole file.
enum ByteRange: Equatable {
    case whole
    case part(Range<Int>)
    case unsatisfiable

    static func select(_ header: String?, ifRange: String?, etag: String, size: Int) -> ByteRange {
        guard let header, ifRange == nil || ifRange == etag else { return .whole }
        let spec = header.trimmingCharacters(in: .whitespaces)
        guard spec.lowercased().hasPrefix("bytes="), !spec.contains(",") else { return .whole }
        let parts = spec.dropFirst(6).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return .whole }
        let (first, last) = (parts[0].trimmingCharacters(in: .whitespaces), parts[1].trimmingCharacters(in: .whitespaces))
        // All digits but too many for an Int: past any file's end.
        func number(_ text: String) -> Int? {
            guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return Int(text) ?? Int.max
        }
        if first.isEmpty {
            guard let suffix = number(last) else { return .whole }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .part(max(0, size - suffix)..<size)
        }
        guard let start = number(first) else { return .whole }
        let end: Int
        if last.isEmpty {
            end = size - 1
        } else {
            guard let given = number(last), given >= start else { return .whole }
            end = min(given, size - 1)
        }
        guard start < size else { return .unsatisfiable }
        return .part(start..<(end + 1))
    }
}
