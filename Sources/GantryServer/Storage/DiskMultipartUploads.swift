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
struct DiskMultipartUploads: MultipartUploads {
    let staging: UploadStaging
    let files: any FileStore
    let maxPartBytes: Int
    let maxTotalBytes: Int

    func create(tenant: String, key: String, contentType: String, now: Date) throws -> String {
        let id = Multipart.newID()
        let directory = staging.multipart.appendingPathComponent(id)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        let manifest = MultipartManifest(tenant: tenant, key: key, contentType: contentType, created: now.timeIntervalSince1970)
        try JSONEncoder().encode(manifest).write(to: directory.appendingPathComponent("manifest.json"), options: .atomic)
        return id
    }

    func load(id: String, tenant: String, key: String) throws -> MultipartManifest {
        guard let directory = staging.multipartDirectory(id),
              let data = FileManager.default.contents(atPath: directory.appendingPathComponent("manifest.json").path),
              let manifest = try? JSONDecoder().decode(MultipartManifest.self, from: data),
              manifest.tenant == tenant, manifest.key == key else {
            throw Multipart.notFound
        }
        return manifest
    }

    /// Streams one part into the upload's directory.
    func storePart<Body: AsyncSequence>(_ body: Body, number: Int, id: String, manifest: MultipartManifest) async throws -> String
        where Body.Element == ByteBuffer
    {
        guard let directory = staging.multipartDirectory(id) else { throw Multipart.notFound }
        let incoming = directory.appendingPathComponent(".incoming-\(UUID.secureRandom().lowercasedString)")
        _ = try await BodySpool.spool(body, to: incoming, limit: maxPartBytes)
        let tag = Multipart.newID()
        guard rename(incoming.path, directory.appendingPathComponent(Self.partName(number, tag)).path) == 0 else {
            unlink(incoming.path)
            // The directory went away while the part streamed in: the upload was completed or swept meanwhile.
            throw APIError(.notFound, "upload_not_found", "The multipart upload ended while part \(number) was uploading")
        }
        return "\"\(tag)\""
    }

    /// Concatenates the listed parts into the file store, then removes the upload's directory. A second completion
    /// while one runs gets a 409.
    func complete(_ parts: [MultipartPart], id: String, manifest: MultipartManifest) async throws {
        guard let directory = staging.multipartDirectory(id) else { throw Multipart.notFound }
        let lock = directory.appendingPathComponent(".completing")
        guard mkdir(lock.path, 0o700) == 0 else {
            throw APIError(.conflict, "upload_in_progress", "This multipart upload is already being completed")
        }
        let assembled = directory.appendingPathComponent(".assembled")
        do {
            let sources = try locate(parts, in: directory)
            let total = sources.reduce(0) { $0 + $1.size }
            guard total <= maxTotalBytes else {
                throw Multipart.tooLarge(total, limit: maxTotalBytes)
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
    private func locate(_ parts: [MultipartPart], in directory: URL) throws -> [(url: URL, size: Int)] {
        let names = Set((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
        let ordered = parts.enumerated().sorted { $0.element.number < $1.element.number }
        return try ordered.map { index, part in
            let tag = Multipart.normalizedETag(part.etag)
            let name = Self.partName(part.number, tag)
            guard Multipart.isID(tag), names.contains(name) else {
                let prefix = Self.partName(part.number, "")
                if names.contains(where: { $0.hasPrefix(prefix) }) { throw Multipart.etagMismatch(index, part.number) }
                throw Multipart.partMissing(index, part.number)
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
