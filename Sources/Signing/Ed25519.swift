import CCryptoShim
import Foundation

/// Ed25519 (RFC 8032) signing keys through OpenSSL's libcrypto.
///
/// The key is loaded into libcrypto once, when it is made: loading derives the public key (a scalar
/// multiplication) and looks the algorithm up in OpenSSL's provider tables, which together cost as much again as
/// a signature; a webhook sender signs thousands of times a second with the same key.
public struct Ed25519PrivateKey: Sendable {
    /// The 32-byte private seed.
    public let seed: [UInt8]
    /// The 32-byte public key.
    public let publicKey: [UInt8]
    private let loaded: LoadedKey

    /// A key from its 32-byte seed; nil when the seed has the wrong length.
    public init?(seed: [UInt8]) {
        guard seed.count == 32, let handle = gantry_ed25519_key_new(seed) else { return nil }
        let loaded = LoadedKey(handle)
        var publicKey = [UInt8](repeating: 0, count: 32)
        guard gantry_ed25519_key_public(handle, &publicKey) == 1 else { return nil }
        self.seed = seed
        self.publicKey = publicKey
        self.loaded = loaded
    }

    /// A fresh key from the system's secure random generator.
    public static func generate() -> Ed25519PrivateKey {
        Ed25519PrivateKey(seed: SecureRandom.bytes(32))!
    }

    /// The 64-byte detached signature of `message`.
    public func sign<Bytes: Collection<UInt8>>(_ message: Bytes) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: 64)
        let ok = withContiguous(message) { pointer, count in gantry_ed25519_key_sign(loaded.handle, pointer, count, &signature) }
        precondition(ok == 1, "Ed25519 signing failed")
        return signature
    }
}

/// libcrypto's key object, freed with the last copy of the key that holds it. Signing only reads it, so it is
/// shared across threads.
private final class LoadedKey: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    init(_ handle: UnsafeMutableRawPointer) { self.handle = handle }

    deinit { gantry_ed25519_key_free(handle) }
}

/// Ed25519 verification.
public enum Ed25519 {
    /// Whether `signature` is a valid signature of `message` under the 32-byte `publicKey`.
    public static func verify<Bytes: Collection<UInt8>>(publicKey: [UInt8], message: Bytes, signature: [UInt8]) -> Bool {
        guard publicKey.count == 32, signature.count == 64 else { return false }
        return withContiguous(message) { pointer, count in gantry_ed25519_verify(publicKey, pointer, count, signature) } == 1
    }
}
