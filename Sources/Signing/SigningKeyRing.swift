import Foundation

/// The host's webhook signing keys, kept in one JSON file (mode 0600) in the data directory.
///
/// The file is created with one fresh key on first start. `rotate` adds a key that signs from a given instant (now,
/// or later so verifiers' cached JWKS can pick it up first); the older keys stay published in the JWKS until
/// `retire` removes them. A running host notices changes made by `gantry keys` (it re-reads the file when its
/// modification time changes, checked at most once a second).
public final class SigningKeyRing: @unchecked Sendable {
    /// One key as stored.
    public struct Entry: Codable, Sendable, Equatable {
        public var kid: String
        /// Base64url of the 32-byte private seed.
        public var seed: String
        public var createdAt: Double
        /// Unix seconds from which the key signs (the newest such key signs).
        public var signsFrom: Double

        enum CodingKeys: String, CodingKey {
            case kid, seed
            case createdAt = "created_at"
            case signsFrom = "signs_from"
        }
    }

    private struct FileContents: Codable {
        var keys: [Entry]
    }

    /// A loaded key: its id and key pair.
    public struct Key: Sendable {
        public let kid: String
        public let privateKey: Ed25519PrivateKey
        public let signsFrom: Date
    }

    public let url: URL
    private let lock = NSLock()
    private var keys: [Key] = []
    private var loadedModification: Date?
    private var lastCheck: Date = .distantPast

    /// Opens the key file in `directory` (`webhook-keys.json`), creating it with one key if it does not exist.
    public init(directory: URL, now: Date = Date()) throws {
        url = directory.appendingPathComponent("webhook-keys.json")
        if !FileManager.default.fileExists(atPath: url.path) {
            _ = try Self.rotate(fileAt: url, delay: 0, now: now)
        }
        try reload()
    }

    /// The key that signs at `now`: the newest whose `signs_from` has passed (the oldest key if none has yet).
    public func signingKey(now: Date = Date()) -> Key {
        refreshIfChanged(now: now)
        return lock.withLock {
            let active = keys.filter { $0.signsFrom <= now }
            return active.max(by: { $0.signsFrom < $1.signsFrom }) ?? keys.min(by: { $0.signsFrom < $1.signsFrom })!
        }
    }

    /// Every published key, in file order.
    public func publishedKeys(now: Date = Date()) -> [Key] {
        refreshIfChanged(now: now)
        return lock.withLock { keys }
    }

    /// The JWKS entries (`kty` OKP, `crv` Ed25519, `x` base64url public key, `kid`, `use`, `alg`).
    public func jwks(now: Date = Date()) -> [[String: String]] {
        publishedKeys(now: now).map { key in
            ["kty": "OKP", "crv": "Ed25519", "x": Base64URL.encode(key.privateKey.publicKey), "kid": key.kid,
             "use": "sig", "alg": "EdDSA"]
        }
    }

    private func refreshIfChanged(now: Date) {
        let due = lock.withLock { () -> Bool in
            guard now.timeIntervalSince(lastCheck) >= 1 else { return false }
            lastCheck = now
            return true
        }
        guard due else { return }
        let modified = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date
        if modified != lock.withLock({ loadedModification }) { try? reload() }
    }

    private func reload() throws {
        let modified = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date
        let entries = try Self.read(url)
        var loaded: [Key] = []
        for entry in entries {
            guard let seed = Base64URL.decode(entry.seed), let key = Ed25519PrivateKey(seed: seed) else {
                throw SigningError("\(url.path): key \(entry.kid) has an invalid seed")
            }
            loaded.append(Key(kid: entry.kid, privateKey: key, signsFrom: Date(timeIntervalSince1970: entry.signsFrom)))
        }
        guard !loaded.isEmpty else { throw SigningError("\(url.path) holds no keys") }
        lock.withLock {
            keys = loaded
            loadedModification = modified
        }
    }

    // MARK: - File operations (`gantry keys`)

    /// The stored entries of a key file.
    public static func read(_ url: URL) throws -> [Entry] {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw SigningError("cannot read \(url.path)") }
        do {
            return try JSONDecoder().decode(FileContents.self, from: data).keys
        } catch {
            throw SigningError("\(url.path) is not a key file: \(error)")
        }
    }

    /// Adds a fresh key that signs from `now + delay`; returns its entry. Creates the file if needed.
    @discardableResult
    public static func rotate(fileAt url: URL, delay: TimeInterval, now: Date = Date()) throws -> Entry {
        var entries = FileManager.default.fileExists(atPath: url.path) ? try read(url) : []
        let key = Ed25519PrivateKey.generate()
        let stamp = Int(now.timeIntervalSince1970)
        let entry = Entry(kid: "gantry-\(stamp)-\(Hex.encode(SHA256.digest(key.publicKey).prefix(4)))",
                          seed: Base64URL.encode(key.seed), createdAt: now.timeIntervalSince1970,
                          signsFrom: now.timeIntervalSince1970 + max(0, delay))
        entries.append(entry)
        try write(entries, to: url)
        return entry
    }

    /// Removes a key from the file. Refuses to remove the key that signs now, or the last key.
    public static func retire(fileAt url: URL, kid: String, now: Date = Date()) throws {
        var entries = try read(url)
        guard let index = entries.firstIndex(where: { $0.kid == kid }) else { throw SigningError("no key \(kid) in \(url.path)") }
        let active = entries.filter { $0.signsFrom <= now.timeIntervalSince1970 }.max(by: { $0.signsFrom < $1.signsFrom })
        if entries.count == 1 || active?.kid == kid {
            throw SigningError("key \(kid) signs now; rotate to a new key before retiring it")
        }
        entries.remove(at: index)
        try write(entries, to: url)
    }

    private static func write(_ entries: [Entry], to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try SecretFile.write(try encoder.encode(FileContents(keys: entries)), to: url)
    }
}
