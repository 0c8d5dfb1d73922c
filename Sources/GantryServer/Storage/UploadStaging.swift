import Foundation
import Signing
import GantryCore
import Logging
import NIOCore

/// The data directory's staging area for uploads in flight, `<data-dir>/uploads/`: `incoming/` holds single bodies
/// while they stream in, `multipart/<uploadId>/` the parts of a multipart upload until it completes.
///
/// It sits in the data directory next to the file store, so finished files move into the store by a link on the
/// same filesystem rather than a copy.
struct UploadStaging: Sendable {
    let root: URL

    /// Creates the staging directories if needed.
    init(dataDirectory: URL) throws {
        root = dataDirectory.appendingPathComponent("uploads")
        for directory in [incoming, multipart] {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
    }

    var incoming: URL { root.appendingPathComponent("incoming") }
    var multipart: URL { root.appendingPathComponent("multipart") }

    /// A fresh path in `incoming/` for one request body.
    func newIncomingFile() -> URL {
        incoming.appendingPathComponent(UUID.secureRandom().lowercasedString)
    }

    /// The directory of a multipart upload; nil unless `uploadID` has the shape this host makes (32 hex digits), so a
    /// path parameter can never name anything outside `multipart/`.
    func multipartDirectory(_ uploadID: String) -> URL? {
        guard Multipart.isID(uploadID) else { return nil }
        return multipart.appendingPathComponent(uploadID)
    }

    /// Clears what a previous process left behind; call at start-up, before any upload is accepted. Every body in
    /// `incoming/` and every half-written part (`.incoming-*`), half-assembled file (`.assembled`) or completion lock
    /// (`.completing`) belonged to a request that died with that process, so all of them go. A multipart upload
    /// itself (manifest and finished parts) is kept while it is still valid — its client may go on uploading parts
    /// and complete it — and removed when its manifest is unreadable or it was started more than `maxAge` ago.
    /// Returns how many entries were removed.
    @discardableResult
    func sweepAtStart(maxAge: TimeInterval = 86_400, now: Date = Date(), logger: Logger? = nil) -> Int {
        let manager = FileManager.default
        var removed = 0
        func remove(_ url: URL) {
            if (try? manager.removeItem(at: url)) != nil { removed += 1 }
        }
        for entry in (try? manager.contentsOfDirectory(at: incoming, includingPropertiesForKeys: nil)) ?? [] { remove(entry) }
        for upload in (try? manager.contentsOfDirectory(at: multipart, includingPropertiesForKeys: nil)) ?? [] {
            guard let data = manager.contents(atPath: upload.appendingPathComponent("manifest.json").path),
                  let manifest = try? JSONDecoder().decode(MultipartManifest.self, from: data),
                  now.timeIntervalSince1970 - manifest.created <= maxAge else {
                remove(upload)
                continue
            }
            for name in (try? manager.contentsOfDirectory(atPath: upload.path)) ?? []
            where name.hasPrefix(".incoming-") || name == ".assembled" || name == ".completing" {
                remove(upload.appendingPathComponent(name))
            }
        }
        if removed > 0 { logger?.notice("removed uploads interrupted by the previous process", metadata: ["count": "\(removed)"]) }
        return removed
    }
}

/// Streams a request body to a file while counting it, so an upload of 100 MiB never sits in memory and a body over
/// the limit is refused as soon as it crosses it.
///
/// The file is created exclusively (never an existing path) and flushed to disk before `spool` returns; on any
/// failure — the limit, a client that went away, a full disk — it is removed, so no partial file is left behind.
enum BodySpool {
    /// The 413 an upload over `limit` answers with.
    static func tooLarge(_ limit: Int) -> APIError {
        APIError(.contentTooLarge, "request_too_large", "Upload is larger than \(limit) bytes")
    }

    /// Refuses a request whose declared `Content-Length` is already over `limit`, before reading any of it, with
    /// `error` (the upload 413 unless the caller names its body otherwise).
    static func checkDeclaredLength(_ header: String?, limit: Int, error: APIError? = nil) throws {
        if let header, let declared = Int(header.trimmingCharacters(in: .whitespaces)), declared > limit {
            throw error ?? tooLarge(limit)
        }
    }

    /// Why a staging file could not be created, as the client should hear it: out of descriptors is a 503 to retry,
    /// a full disk a 507; anything else an I/O error.
    static func cannotStage(_ code: Int32, _ url: URL) -> Error {
        switch code {
        case EMFILE, ENFILE:
            APIError(.serviceUnavailable, "server_busy", "The host is out of file descriptors; retry shortly", headers: [.retryAfter: "1"])
        case ENOSPC, EDQUOT:
            APIError(.init(code: 507), "insufficient_storage", "The host has no space left for this upload")
        default:
            FileStoreError(.io, "cannot create \(url.lastPathComponent) (errno \(code))")
        }
    }

    /// Writes every chunk of `body` to a new file at `url`; returns the byte count.
    /// - Throws: the 413 `APIError` past `limit`, or whatever reading the body or writing the file threw.
    static func spool<Body: AsyncSequence>(_ body: Body, to url: URL, limit: Int) async throws -> Int where Body.Element == ByteBuffer {
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw cannotStage(errno, url) }
        var closed = false
        do {
            var total = 0
            for try await chunk in body {
                total += chunk.readableBytes
                if total > limit { throw tooLarge(limit) }
                try writeAll(chunk, to: descriptor)
            }
            // fsync can take a while for a large file: do it on a compute thread, not the cooperative pool.
            let synced = await Compute.shared.run { fsync(descriptor) == 0 }
            closed = true
            close(descriptor)
            guard synced else { throw FileStoreError(.io, "cannot flush \(url.lastPathComponent)") }
            return total
        } catch {
            if !closed { close(descriptor) }
            unlink(url.path)
            throw error
        }
    }

    /// Writes a whole buffer, retrying short writes and interrupts.
    private static func writeAll(_ chunk: ByteBuffer, to descriptor: Int32) throws {
        try chunk.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw FileStoreError(.io, "cannot write upload (errno \(errno))")
                }
                offset += written
            }
        }
    }
}
