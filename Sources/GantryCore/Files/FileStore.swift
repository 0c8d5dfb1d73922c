import Foundation
import Signing

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

/// What a stored file is, without its bytes.
public struct StoredFileMetadata: Sendable, Equatable {
    public var contentType: String
    public var etag: String
    public var modified: Date
    public var size: Int

    public init(contentType: String, etag: String, modified: Date, size: Int) {
        self.contentType = contentType
        self.etag = etag
        self.modified = modified
        self.size = size
    }
}

/// Why a file store refused a write.
public struct FileStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Sendable {
        /// The key is not one the stores produce (`isValidFileKey`).
        case invalidKey = "invalid_key"
        /// A file already lives under the key; files never change once written.
        case exists
        /// The operating system refused (the message has the details; it never reaches a client).
        case io
    }

    /// What went wrong.
    public let code: Code
    /// Details for the log; never sent to a client.
    public let message: String

    /// An error of `code` with details for the log.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// Where outputs and uploads live. Keys look like `2026-11-21/<uuid-hex>-<tag>.png` (see `FileNaming`); a key is
/// visible only once its bytes are complete.
public protocol FileStore: Sendable {
    /// Stores bytes under a key atomically: readers see the whole file or nothing.
    func put(_ data: Data, key: String, contentType: String) async throws
    /// Moves a complete temporary file under a key (or reads it in), atomically and without replacing an existing
    /// file (`FileStoreError.exists`). The temporary file is gone afterwards unless the call throws.
    func putFile(at temporaryURL: URL, key: String, contentType: String) async throws
    /// The file under a key, or nil.
    func get(key: String) async throws -> StoredFile?
    /// The size in bytes of the file under a key, or nil; cheaper than `get` where the store can tell.
    func size(key: String) async throws -> Int?
    /// Throws when the store cannot serve now (an unreachable bucket); for `/ready`. Local stores are always ready.
    func checkReady() async throws
    /// The file's type, validator, date and size, or nil; a remote store answers it without sending the bytes.
    func metadata(key: String) async throws -> StoredFileMetadata?
    /// The bytes `range` of the file under a key (within its size), or nil when there is no file: a remote store
    /// sends only those bytes (a byte range of a large file costs the range, not the file).
    func read(key: String, range: Range<Int>) async throws -> Data?
    /// The file opened for reading as it arrives, or nil; a remote store streams it from its server.
    func stream(key: String) async throws -> StoredFileStream?
    /// A URL of the file that does not go through the host (a presigned GET), or nil to hand out the host's URL.
    func directURL(key: String, now: Date) -> String?
    /// The key a URL from `directURL` names, or nil for any other URL.
    func key(ofDirectURL url: String) -> String?
}

extension FileStore {
    public func size(key: String) async throws -> Int? {
        try await get(key: key)?.data.count
    }

    public func checkReady() async throws {}

    public func stream(key: String) async throws -> StoredFileStream? {
        try await get(key: key).map {
            StoredFileStream(metadata: StoredFileMetadata(contentType: $0.contentType, etag: $0.etag, modified: $0.modified, size: $0.data.count),
                             chunks: FileChunks(data: $0.data))
        }
    }

    public func directURL(key: String, now: Date) -> String? { nil }

    public func key(ofDirectURL url: String) -> String? { nil }

    public func metadata(key: String) async throws -> StoredFileMetadata? {
        try await get(key: key).map { StoredFileMetadata(contentType: $0.contentType, etag: $0.etag, modified: $0.modified, size: $0.data.count) }
    }

    public func read(key: String, range: Range<Int>) async throws -> Data? {
        guard let data = try await get(key: key)?.data else { return nil }
        return data.subdata(in: data.startIndex + min(range.lowerBound, data.count)..<data.startIndex + min(range.upperBound, data.count))
    }

    /// A fresh, unguessable key `{yyyy-mm-dd}/{uuid}.{ext}` (UTC date) that names no tenant; files the host writes
    /// for a request use `FileNaming.makeKey` instead.
    public static func makeKey(fileExtension: String, now: Date = Date()) -> String {
        "\(dayStamp(now))/\(UUID.secureRandom().lowercasedString).\(fileExtension)"
    }
}

/// The UTC day `yyyy-mm-dd` of a date: the first component of every key.
func dayStamp(_ date: Date) -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let parts = calendar.dateComponents([.year, .month, .day], from: date)
    return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
}

/// Checks that a key is one the stores produce (`yyyy-mm-dd/name.ext`), so a request path can never escape the root.
public func isValidFileKey(_ key: String) -> Bool {
    let parts = key.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, parts[0].count == 10, !parts[1].isEmpty, parts[1].count <= 200 else { return false }
    let dayOK = parts[0].enumerated().allSatisfy { index, char in (index == 4 || index == 7) ? char == "-" : char.isASCII && char.isNumber }
    let nameOK = parts[1].allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
    return dayOK && nameOK && !parts[1].hasPrefix(".")
}

/// File extensions the host knows, with the content type each is served as. Types a browser would run as a page
/// (HTML, SVG) are deliberately absent: such uploads are served as `application/octet-stream`.
private let knownTypes: [(ext: String, type: String)] = [
    ("png", "image/png"), ("jpg", "image/jpeg"), ("jpeg", "image/jpeg"), ("webp", "image/webp"), ("gif", "image/gif"),
    ("bmp", "image/bmp"), ("tiff", "image/tiff"), ("json", "application/json"), ("txt", "text/plain; charset=utf-8"),
    ("csv", "text/csv"), ("pdf", "application/pdf"), ("zip", "application/zip"), ("mp3", "audio/mpeg"),
    ("wav", "audio/wav"), ("ogg", "audio/ogg"), ("mp4", "video/mp4"), ("webm", "video/webm"), ("bin", "application/octet-stream"),
]

/// The content type for a file extension the host writes.
public func contentType(forExtension ext: String) -> String {
    let lowered = ext.lowercased()
    return knownTypes.first { $0.ext == lowered }?.type ?? "application/octet-stream"
}

/// The extension the host gives a file of a content type (`bin` for unknown types).
public func fileExtension(forContentType type: String) -> String {
    let media = type.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
    switch media {
    case "image/jpg", "image/pjpeg": return "jpg"
    case "text/plain": return "txt"
    case "audio/x-wav", "audio/wave": return "wav"
    default: break
    }
    return knownTypes.first { $0.type.split(separator: ";").first.map(String.init) == media }?.ext ?? "bin"
}

/// Keeps files in memory (tests and `gantry run`).
public final class MemoryFileStore: FileStore, @unchecked Sendable {
    private let lock = NSLock()
    private var files: [String: StoredFile] = [:]

    public init() {}

    public func put(_ data: Data, key: String, contentType: String) async throws {
        guard isValidFileKey(key) else { throw FileStoreError(.invalidKey, "invalid file key \(key)") }
        let file = StoredFile(data: data, contentType: contentType, etag: etag(key: key, size: data.count), modified: Date())
        lock.withLock { files[key] = file }
    }

    public func putFile(at temporaryURL: URL, key: String, contentType: String) async throws {
        guard isValidFileKey(key) else { throw FileStoreError(.invalidKey, "invalid file key \(key)") }
        let data = try Data(contentsOf: temporaryURL)
        let file = StoredFile(data: data, contentType: contentType, etag: etag(key: key, size: data.count), modified: Date())
        let stored = lock.withLock {
            guard files[key] == nil else { return false }
            files[key] = file
            return true
        }
        guard stored else { throw FileStoreError(.exists, "a file already exists under \(key)") }
        try? FileManager.default.removeItem(at: temporaryURL)
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
