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
            guard isValidFileKey(key), var file = try await files.get(key: key) else {
                throw APIError(.notFound, "file_not_found", "File not found")
            }
            var headers = HTTPFields()
            // Fooocus-API's Accept-based conversion (FileNegotiation), bounded by `conversions`; a representation
            // varies with Accept. A conditional request for a converted representation is answered before converting.
            if FileNegotiation.isConvertible(file.contentType) {
                headers[.vary] = "Accept"
                if let format = FileNegotiation.requestedFormat(request.headers[.accept]),
                   format.contentType != file.contentType.lowercased() {
                    let variant = FileNegotiation.variantETag(file.etag, format)
                    if let match = request.headers[.ifNoneMatch], match == variant {
                        headers[.eTag] = variant
                        return Response(status: .notModified, headers: headers)
                    }
                    switch await conversions.convert(file, to: format) {
                    case .converted(let converted): file = converted
                    case .asStored: break
                    case .busy:
                        throw APIError(.serviceUnavailable, "conversion_busy", "Too many image conversions in progress; retry shortly",
                                       headers: [.retryAfter: "1"])
                    }
                }
            }
            headers[.eTag] = file.etag
            headers[.cacheControl] = "public, max-age=31536000, immutable"
            headers[.lastModified] = httpDate(file.modified)
            if let match = request.headers[.ifNoneMatch], match == file.etag || match == "*" {
                return Response(status: .notModified, headers: headers)
            }
            headers[.contentType] = file.contentType
            // Uploads are user content: browsers must not sniff a type other than the one the extension gives.
            headers[HTTPField.Name("x-content-type-options")!] = "nosniff"
            headers[.acceptRanges] = "bytes"
            switch ByteRange.select(request.headers[.range], ifRange: request.headers[.ifRange], etag: file.etag, size: file.data.count) {
            case .whole:
                headers[.contentLength] = String(file.data.count)
                return Response(status: .ok, headers: headers, body: Self.body(file.data))
            case .part(let range):
                headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(file.data.count)"
                headers[.contentLength] = String(range.count)
                return Response(status: .partialContent, headers: headers, body: Self.body(file.data.subdata(in: range)))
            case .unsatisfiable:
                throw APIError(.rangeNotSatisfiable, "range_not_satisfiable", "The range is outside the file's \(file.data.count) bytes",
                               headers: [.contentRange: "bytes */\(file.data.count)"])
            }
        }
    }
}

extension FileRoutes {
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
