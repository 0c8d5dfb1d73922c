import Foundation
import Signing
import Logging

/// Stores files on local disk under a root directory (`<data-dir>/files`).
///
/// Writes go to a temporary file in the same directory, are flushed, then renamed into place, so a reader (or a
/// crash) never sees a partial file under its final name.
public struct LocalFileStore: FileStore {
    public let root: URL

    /// Creates the root directory if needed.
    public init(root: URL) throws {
        self.root = root
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    /// Removes the temporary files (`.tmp-*`) of writes a previous process did not finish; call at start-up, before
    /// anything writes. Returns how many were removed.
    @discardableResult
    public func sweepTemporaryFiles(logger: Logger? = nil) -> Int {
        var removed = 0
        let manager = FileManager.default
        for day in (try? manager.contentsOfDirectory(at: root, includingPropertiesForKeys: nil)) ?? [] {
            for name in (try? manager.contentsOfDirectory(atPath: day.path)) ?? [] where name.hasPrefix(".tmp-") {
                if unlink(day.appendingPathComponent(name).path) == 0 { removed += 1 }
            }
        }
        if removed > 0 { logger?.notice("removed unfinished file writes of the previous process", metadata: ["count": "\(removed)"]) }
        return removed
    }

    public func put(_ data: Data, key: String, contentType: String) async throws {
        guard isValidFileKey(key) else { throw FileStoreError(.invalidKey, "invalid file key \(key)") }
        let destination = root.appendingPathComponent(key)
        let directory = destination.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let temporary = directory.appendingPathComponent(".tmp-\(UUID.secureRandom().uuidString)")
        do {
            // `.atomic` would also write-and-rename, but into a location of Foundation's choosing; doing it here keeps
            // the temporary file in the same directory (same filesystem) and hidden from readers by its name.
            _ = FileManager.default.createFile(atPath: temporary.path, contents: nil)
            let handle = try FileHandle(forWritingTo: temporary)
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            if rename(temporary.path, destination.path) != 0 {
                throw ConfigurationError("cannot move file into place (errno \(errno))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// Flushes the temporary file and hard-links it under the key, which fails rather than replacing a file that is
    /// already there (a rename would silently replace it). The temporary file should live on the same filesystem
    /// (the staging directories sit in the data directory); otherwise it is copied next to its destination first.
    public func putFile(at temporaryURL: URL, key: String, contentType: String) async throws {
        guard isValidFileKey(key) else { throw FileStoreError(.invalidKey, "invalid file key \(key)") }
        let destination = root.appendingPathComponent(key)
        try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        // fsync of a large file can take a while: keep it off the cooperative pool.
        try await Compute.shared.run {
            try Self.flush(temporaryURL)
            if link(temporaryURL.path, destination.path) == 0 {
                unlink(temporaryURL.path)
                return
            }
            let code = errno
            guard code == EXDEV else { throw Self.linkError(code, key: key) }
            // Another filesystem: copy next to the destination, flush, and link that instead.
            let copy = destination.deletingLastPathComponent().appendingPathComponent(".tmp-\(UUID.secureRandom().uuidString)")
            defer { unlink(copy.path) }
            try FileManager.default.copyItem(at: temporaryURL, to: copy)
            try Self.flush(copy)
            guard link(copy.path, destination.path) == 0 else { throw Self.linkError(errno, key: key) }
            unlink(temporaryURL.path)
        }
    }

    public func get(key: String) async throws -> StoredFile? {
        guard isValidFileKey(key) else { return nil }
        let url = root.appendingPathComponent(key)
        // Mapped, not read: serving a large file costs page cache shared by every reader, not a copy per request.
        guard let data = try? Data(contentsOf: url, options: .alwaysMapped) else { return nil }
        let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
        let modified = attributes?[.modificationDate] as? Date ?? Date()
        return StoredFile(data: data, contentType: contentType(forExtension: url.pathExtension), etag: etag(key: key, size: data.count), modified: modified)
    }

    public func size(key: String) async throws -> Int? {
        guard isValidFileKey(key) else { return nil }
        var info = stat()
        guard stat(root.appendingPathComponent(key).path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(info.st_size)
    }

    private static func flush(_ url: URL) throws {
        let descriptor = open(url.path, O_RDONLY)
        guard descriptor >= 0 else { throw FileStoreError(.io, "cannot open \(url.lastPathComponent) (errno \(errno))") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw FileStoreError(.io, "cannot flush \(url.lastPathComponent) (errno \(errno))") }
    }

    private static func linkError(_ code: Int32, key: String) -> FileStoreError {
        code == EEXIST ? FileStoreError(.exists, "a file already exists under \(key)")
            : FileStoreError(.io, "cannot move file into place (errno \(code))")
    }
}
