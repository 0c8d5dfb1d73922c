import Foundation
import Signing
import GantryCore
import NIOCore

/// Multipart uploads staged on disk: `multipart/<uploadId>/manifest.json` says whose upload it is and which file it
/// becomes; each part is a file `part-<n>-<etag>`; completing concatenates the listed parts in part-number order
/// into the file store and removes the directory.
///
/// A part's ETag is random and is part of its file name, so completing with an ETag the part PUT did not return finds
/// no file; a re-sent part gets a new ETag and the client lists whichever it received.
struct MultipartUploads: Sendable {
    /// Who started an upload, and what it becomes.
    struct Manifest: Codable, Sendable {
        var tenant: String
        var key: String
        var contentType: String
        var created: Double
    }

    /// One entry of the client's `complete` list.
    struct PartRef: Sendable, Equatable {
        var number: Int
        var etag: String
    }

    static let maxPartNumber = 10_000

    let staging: UploadStaging
    let files: any FileStore
    let maxPartBytes: Int
    let maxTotalBytes: Int

    /// Starts an upload of `key` for `tenant`; returns its id.
    func create(tenant: String, key: String, contentType: String, now: Date) throws -> String {
        let id = UUID.secureRandom().lowercasedString.replacingOccurrences(of: "-", with: "")
        let directory = staging.multipart.appendingPathComponent(id)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        let manifest = Manifest(tenant: tenant, key: key, contentType: contentType, created: now.timeIntervalSince1970)
        try JSONEncoder().encode(manifest).write(to: directory.appendingPathComponent("manifest.json"), options: .atomic)
        return id
    }

    /// The directory and manifest of an upload of `key` by `tenant`; 404 for anything else, unknown ids included.
    func load(id: String, tenant: String, key: String) throws -> (directory: URL, manifest: Manifest) {
        guard let directory = staging.multipartDirectory(id),
              let data = FileManager.default.contents(atPath: directory.appendingPathComponent("manifest.json").path),
              let manifest = try? JSONDecoder().decode(Manifest.self, from: data),
              manifest.tenant == tenant, manifest.key == key else {
            throw APIError(.notFound, "upload_not_found", "No multipart upload \(id) for this file")
        }
        return (directory, manifest)
    }

    /// Streams one part into the upload's directory; returns its ETag (quoted, as the header carries it).
    func storePart<Body: AsyncSequence>(_ body: Body, number: Int, in directory: URL) async throws -> String where Body.Element == ByteBuffer {
        let incoming = directory.appendingPathComponent(".incoming-\(UUID.secureRandom().lowercasedString)")
        _ = try await BodySpool.spool(body, to: incoming, limit: maxPartBytes)
        let tag = UUID.secureRandom().lowercasedString.replacingOccurrences(of: "-", with: "")
        guard rename(incoming.path, directory.appendingPathComponent(Self.partName(number, tag)).path) == 0 else {
            unlink(incoming.path)
            // The directory went away while the part streamed in: the upload was completed or swept meanwhile.
            throw APIError(.notFound, "upload_not_found", "The multipart upload ended while part \(number) was uploading")
        }
        return "\"\(tag)\""
    }

    /// Concatenates the listed parts (sorted by part number) into the file store under the manifest's key, then
    /// removes the upload's directory.
    /// - Throws: 400 naming the entry for a missing part or a wrong ETag, 409 while another completion runs, 413 over
    ///   the assembled-file limit.
    func complete(_ parts: [PartRef], directory: URL, manifest: Manifest) async throws {
        let lock = directory.appendingPathComponent(".completing")
        guard mkdir(lock.path, 0o700) == 0 else {
            throw APIError(.conflict, "upload_in_progress", "This multipart upload is already being completed")
        }
        let assembled = directory.appendingPathComponent(".assembled")
        do {
            let sources = try locate(parts, in: directory)
            let total = sources.reduce(0) { $0 + $1.size }
            guard total <= maxTotalBytes else {
                throw APIError(.contentTooLarge, "request_too_large", "The assembled upload would be \(total) bytes; the limit is \(maxTotalBytes)")
            }
            try await Compute.shared.run { try Self.concatenate(sources.map(\.url), into: assembled) }
            try await files.putFile(at: assembled, key: manifest.key, contentType: manifest.contentType)
        } catch {
            unlink(assembled.path)
            rmdir(lock.path)
            throw error
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// The part files of the list in part-number order, checking each ETag against the part's file name.
    private func locate(_ parts: [PartRef], in directory: URL) throws -> [(url: URL, size: Int)] {
        let names = Set((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
        let ordered = parts.enumerated().sorted { $0.element.number < $1.element.number }
        return try ordered.map { index, part in
            let tag = Self.normalizedETag(part.etag)
            let name = Self.partName(part.number, tag)
            guard Self.isTag(tag), names.contains(name) else {
                let prefix = Self.partName(part.number, "")
                if names.contains(where: { $0.hasPrefix(prefix) }) {
                    throw APIError.field(["body", "parts", "\(index)", "etag"], "ETag does not match part \(part.number)", type: "etag_mismatch", status: .badRequest)
                }
                throw APIError.field(["body", "parts", "\(index)", "partNumber"], "Part \(part.number) was not uploaded", type: "part_missing", status: .badRequest)
            }
            let url = directory.appendingPathComponent(name)
            var info = stat()
            guard stat(url.path, &info) == 0 else { throw FileStoreError(.io, "part \(part.number) vanished") }
            return (url, Int(info.st_size))
        }
    }

    static func partName(_ number: Int, _ tag: String) -> String {
        String(format: "part-%05d-", number) + tag
    }

    /// An ETag as a client may send it back: with or without quotes or a weak prefix.
    static func normalizedETag(_ etag: String) -> String {
        var text = etag.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("W/") { text.removeFirst(2) }
        return text.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }

    static func isTag(_ text: String) -> Bool {
        text.count == 32 && text.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    /// Appends the files to a new file, a few MiB at a time; runs on a compute thread.
    private static func concatenate(_ sources: [URL], into destination: URL) throws {
        let output = open(destination.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw FileStoreError(.io, "cannot create the assembled upload (errno \(errno))") }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 4 << 20)
        for source in sources {
            let input = open(source.path, O_RDONLY | O_CLOEXEC)
            guard input >= 0 else { throw FileStoreError(.io, "cannot open \(source.lastPathComponent) (errno \(errno))") }
            defer { close(input) }
            while true {
                let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress!, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count >= 0 else { throw FileStoreError(.io, "cannot read \(source.lastPathComponent) (errno \(errno))") }
                if count == 0 { break }
                var offset = 0
                while offset < count {
                    let written = buffer.withUnsafeBytes { write(output, $0.baseAddress! + offset, count - offset) }
                    if written < 0 && errno == EINTR { continue }
                    guard written > 0 else { throw FileStoreError(.io, "cannot write the assembled upload (errno \(errno))") }
                    offset += written
                }
            }
        }
    }
}
