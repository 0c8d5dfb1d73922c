import Foundation

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

    public func put(_ data: Data, key: String, contentType: String) async throws {
        guard isValidFileKey(key) else { throw ConfigurationError("invalid file key \(key)") }
        let destination = root.appendingPathComponent(key)
        let directory = destination.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let temporary = directory.appendingPathComponent(".tmp-\(UUID().uuidString)")
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

    public func get(key: String) async throws -> StoredFile? {
        guard isValidFileKey(key) else { return nil }
        let url = root.appendingPathComponent(key)
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
        let modified = attributes?[.modificationDate] as? Date ?? Date()
        return StoredFile(data: data, contentType: contentType(forExtension: url.pathExtension), etag: etag(key: key, size: data.count), modified: modified)
    }
}
