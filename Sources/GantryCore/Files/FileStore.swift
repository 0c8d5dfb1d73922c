import Foundation

/// A stored file as the file store gives it back.
public struct StoredFile: Sendable {
    public var data: Data
    public var contentType: String
    /// A strong validator; files are immutable once written, so it never changes for a key.
    public var etag: String
    public var modified: Date

    public init(data: Data, contentType: String, etag: String, modified: Date) {
        self.data = data
        self.contentType = contentType
        self.etag = etag
        self.modified = modified
    }
}

/// Where outputs (and, later, uploads) live. Keys look like `2026-11-21/<uuid>.png`; a key is visible only once its
/// bytes are complete.
public protocol FileStore: Sendable {
    /// Stores bytes under a key atomically: readers see the whole file or nothing.
    func put(_ data: Data, key: String, contentType: String) async throws
    /// The file under a key, or nil.
    func get(key: String) async throws -> StoredFile?
}

extension FileStore {
    /// A fresh, unguessable key `{yyyy-mm-dd}/{uuid}.{ext}` (UTC date).
    public static func makeKey(fileExtension: String, now: Date = Date()) -> String {
        "\(dayStamp(now))/\(UUID().uuidString.lowercased()).\(fileExtension)"
    }

    static func dayStamp(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }
}

/// Checks that a key is one the stores produce (`yyyy-mm-dd/name.ext`), so a request path can never escape the root.
public func isValidFileKey(_ key: String) -> Bool {
    let parts = key.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, parts[0].count == 10, !parts[1].isEmpty, parts[1].count <= 200 else { return false }
    let dayOK = parts[0].enumerated().allSatisfy { index, char in (index == 4 || index == 7) ? char == "-" : char.isASCII && char.isNumber }
    let nameOK = parts[1].allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
    return dayOK && nameOK && !parts[1].hasPrefix(".")
}

/// The content type for a file extension the host writes.
public func contentType(forExtension ext: String) -> String {
    switch ext.lowercased() {
    case "png": "image/png"
    case "jpg", "jpeg": "image/jpeg"
    case "webp": "image/webp"
    case "json": "application/json"
    case "txt": "text/plain; charset=utf-8"
    default: "application/octet-stream"
    }
}

/// Keeps files in memory (tests and `gantry run`).
public final class MemoryFileStore: FileStore, @unchecked Sendable {
    private let lock = NSLock()
    private var files: [String: StoredFile] = [:]

    public init() {}

    public func put(_ data: Data, key: String, contentType: String) async throws {
        let file = StoredFile(data: data, contentType: contentType, etag: etag(key: key, size: data.count), modified: Date())
        lock.withLock { files[key] = file }
    }

    public func get(key: String) async throws -> StoredFile? {
        lock.withLock { files[key] }
    }
}

/// A strong ETag derived from the key (unique per file) and its size.
func etag(key: String, size: Int) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in key.utf8 {
        hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }
    return "\"\(String(hash, radix: 16))-\(String(size, radix: 16))\""
}
