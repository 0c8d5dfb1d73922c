import Foundation

/// Files that hold secrets: written whole with mode 0600 (temporary file, fsync, rename), so no other user can read
/// them and a crash never leaves half a key behind.
public enum SecretFile {
    /// Writes `data` to `url` atomically with mode 0600.
    public static func write(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(UUID.secureRandom().uuidString)")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw SigningError("cannot create \(temporary.path) (errno \(errno))") }
        var written = 0
        let ok = data.withUnsafeBytes { raw -> Bool in
            while written < raw.count {
                let result = Foundation.write(fd, raw.baseAddress! + written, raw.count - written)
                if result <= 0 { return false }
                written += result
            }
            return fsync(fd) == 0
        }
        close(fd)
        guard ok, rename(temporary.path, url.path) == 0 else {
            unlink(temporary.path)
            throw SigningError("cannot write \(url.path) (errno \(errno))")
        }
    }

    /// The contents of a 32-byte random secret file, created on first use.
    public static func loadOrCreateKey(at url: URL) throws -> [UInt8] {
        if let data = FileManager.default.contents(atPath: url.path) {
            guard data.count >= 32 else { throw SigningError("\(url.path) is shorter than 32 bytes") }
            return Array(data)
        }
        let secret = SecureRandom.bytes(32)
        try write(Data(secret), to: url)
        // Another process may have created it at the same moment: whichever rename landed last wins for both.
        return Array(FileManager.default.contents(atPath: url.path) ?? Data(secret))
    }
}

/// A key file that cannot be read, written or parsed.
public struct SigningError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
