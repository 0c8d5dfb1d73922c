import Foundation
import GantryCore
import Imaging

/// Fooocus-API's response bodies (docs/fooocus.md §1.6), and how a stored request renders as them.
struct FooocusAPIResponses: Sendable {
    let queue: RequestQueue
    let files: any FileStore
    let publicURL: PublicURL
    let index: FooocusJobIndex

    /// One `GeneratedImageResult`: `{base64, url, seed (a string), finish_reason}`.
    static func item(base64: String? = nil, url: String? = nil, seed: String = "", reason: String) -> JSONValue {
        .object(["base64": base64.map { .string($0) } ?? .null, "url": url.map { .string($0) } ?? .null,
                 "seed": .string(seed), "finish_reason": .string(reason)])
    }

    /// An `AsyncJobResponse`.
    static func job(id: String, kind: String, stage: String, progress: Int = 0, status: String? = nil, result: JSONValue = .null) -> JSONValue {
        .object(["job_id": .string(id), "job_type": .string(kind), "job_stage": .string(stage), "job_progress": .number(Double(progress)),
                 "job_status": status.map { .string($0) } ?? .null, "job_step_preview": .null, "job_result": result])
    }

    /// query-job's body for an unknown job (sent with 404).
    static let notFound = job(id: "", kind: "Not Found", stage: "ERROR", status: "Job not found")

    /// The job type of a request: as submitted through Fooocus-API when this process remembers it, else by function.
    func kind(of record: RequestRecord) -> FooocusAPIRequest.Kind {
        index.job(id: record.id)?.kind ?? FooocusAPITranslation.kind(ofFunction: record.functionID) ?? .textToImage
    }

    /// The result items of a succeeded request: one per image, `seed` = the output's seed + index (the functions'
    /// seed rule), `base64` a data URI of the stored file when asked for.
    func items(of record: RequestRecord, requireBase64: Bool) async throws -> [JSONValue] {
        guard let body = record.result?.body, let output = try? JSONValue.parse(body), let images = output["images"]?.arrayValue else {
            return []
        }
        let seed = output["seed"]?.doubleValue.map { UInt64(max($0, 0)) }
        var items: [JSONValue] = []
        for (index, image) in images.enumerated() {
            let url = image["url"]?.stringValue
            var base64: String?
            if requireBase64, let url { base64 = try await dataURI(of: url) }
            items.append(Self.item(base64: base64, url: url, seed: seed.map { String($0 &+ UInt64(index)) } ?? "", reason: "SUCCESS"))
        }
        return items
    }

    /// The stored bytes and content type behind an output URL of this host (a `data:` URL decodes to itself).
    func file(at url: String) async throws -> StoredFile? {
        guard let key = FileLocator(publicURL: publicURL.string, files: files).key(of: url) else { return nil }
        return isValidFileKey(key) ? try await files.get(key: key) : nil
    }

    private func dataURI(of url: String) async throws -> String? {
        if url.hasPrefix("data:") { return url }
        guard let file = try await file(at: url) else { return nil }
        return "data:\(file.contentType);base64,\(file.data.base64EncodedString())"
    }

    /// query-job's `AsyncJobResponse` for a stored request. A running job says RUNNING (Fooocus-API 0.5.0.1 says
    /// WAITING until it finishes); `job_status` is the latest log line while running, and the error while failed.
    func job(_ record: RequestRecord) async throws -> JSONValue {
        let kind = kind(of: record).rawValue
        let progress = Int(((record.progress ?? 0) * 100).rounded(.down).clamped(to: 0...100))
        switch record.state {
        case .queued:
            return Self.job(id: record.id, kind: kind, stage: "WAITING")
        case .running:
            let last = try await queue.logs(id: record.id).last?.message
            return Self.job(id: record.id, kind: kind, stage: "RUNNING", progress: min(progress, 99), status: last ?? "Running")
        case .succeeded:
            let items = try await items(of: record, requireBase64: index.job(id: record.id)?.requireBase64 ?? false)
            return Self.job(id: record.id, kind: kind, stage: "SUCCESS", progress: 100, status: "Finished", result: .array(items))
        case .cancelled:
            return Self.job(id: record.id, kind: kind, stage: "ERROR", progress: progress, status: "Stopped by the user",
                            result: .array([Self.item(reason: "USER_CANCEL")]))
        case .failed, .expired:
            return Self.job(id: record.id, kind: kind, stage: "ERROR", progress: progress, status: record.failure?.message)
        }
    }

    /// A job-history entry: `{job_id, in_queue_mills, start_mills, finish_mills, is_finished}`.
    static func history(_ record: RequestRecord) -> JSONValue {
        func millis(_ date: Date?) -> JSONValue { .number(date.map { ($0.timeIntervalSince1970 * 1000).rounded(.down) } ?? 0) }
        return .object(["job_id": .string(record.id), "in_queue_mills": millis(record.createdAt), "start_mills": millis(record.startedAt),
                        "finish_mills": millis(record.finishedAt), "is_finished": .bool(record.state.isTerminal)])
    }
}

extension Comparable {
    func clamped(to range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}

/// Fooocus-API's content negotiation on `GET /files/…` (docs/fooocus.md §1.8): an `Accept` of exactly `image/png`,
/// `image/jpeg`, `image/jpg` or `image/webp` re-encodes a stored image to that format. Anything else — `*/*`, a
/// list of types, no header at all (a 500 in Fooocus-API) — serves the file as stored, and so does a file that is
/// not an image or does not decode.
enum FileNegotiation {
    /// The format an `Accept` header asks for, or nil when it asks for none in particular.
    static func requestedFormat(_ accept: String?) -> ImageFormat? {
        switch accept?.trimmingCharacters(in: .whitespaces).lowercased() {
        case "image/png": .png
        case "image/jpeg", "image/jpg": .jpeg
        case "image/webp": .webp
        default: nil
        }
    }

    /// Whether a stored content type is one negotiation can convert from (and whose response varies by Accept).
    static func isConvertible(_ contentType: String) -> Bool {
        ImageFormat.allCases.contains { $0.contentType == contentType.lowercased() }
    }

    /// The file in `format`, with its own strong ETag; the file itself when it already is; nil when it cannot be
    /// converted (not an image, corrupt, or the encoder refuses it).
    static func convert(_ file: StoredFile, to format: ImageFormat) async -> StoredFile? {
        guard isConvertible(file.contentType) else { return nil }
        if file.contentType.lowercased() == format.contentType { return file }
        let source = file.data
        guard let data = try? await Compute.shared.run({ try ImageCodec.encode(ImageCodec.decode(source), as: format, quality: 95) }) else {
            return nil
        }
        return StoredFile(data: data, contentType: format.contentType, etag: variantETag(file.etag, format), modified: file.modified)
    }

    /// `"abc"` → `"abc-png"`: a converted representation is a different entity.
    static func variantETag(_ etag: String, _ format: ImageFormat) -> String {
        guard etag.hasSuffix("\""), etag.count >= 2 else { return "\"\(etag)-\(format.rawValue)\"" }
        return String(etag.dropLast()) + "-\(format.rawValue)\""
    }
}
