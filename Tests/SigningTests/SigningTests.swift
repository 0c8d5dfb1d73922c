import Foundation
import Signing
import Testing

@Suite("Signing primitives")
struct PrimitiveTests {
    @Test("SHA-256 of known strings (FIPS 180-2 examples)")
    func sha256() {
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("HMAC-SHA-256 RFC 4231 test case 2")
    func hmac() {
        let mac = HMACSHA256.mac(key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8))
        #expect(Hex.encode(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test("Ed25519 RFC 8032 §7.1 test 1 (empty message) and test 2 (one byte)")
    func ed25519Vectors() throws {
        let cases: [(seed: String, publicKey: String, message: String, signature: String)] = [
            ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
             "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
             "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
            ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
             "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
             "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
        ]
        for item in cases {
            let key = try #require(Ed25519PrivateKey(seed: Hex.decode(item.seed)!))
            #expect(Hex.encode(key.publicKey) == item.publicKey)
            let message = Hex.decode(item.message)!
            let signature = key.sign(message)
            #expect(Hex.encode(signature) == item.signature)
            #expect(Ed25519.verify(publicKey: key.publicKey, message: message, signature: signature))
            var tampered = message
            tampered.append(0)
            #expect(!Ed25519.verify(publicKey: key.publicKey, message: tampered, signature: signature))
        }
    }

    @Test("hex and base64url round trips; invalid text is refused")
    func encodings() {
        let bytes: [UInt8] = [0, 1, 0xfe, 0xff, 0x7f]
        #expect(Hex.decode(Hex.encode(bytes)) == bytes)
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
        #expect(Base64URL.encode([0xfb, 0xff]) == "-_8")
        #expect(Base64URL.decode("-_8") == [0xfb, 0xff])
        #expect(Base64URL.decode("a+b") == nil)
        // "-_8" and "-_9" would decode to the same bytes; only the canonical spelling is accepted.
        #expect(Base64URL.decode("-_9") == nil)
    }
}

@Suite("Tokens")
struct TokenTests {
    struct Claims: Codable, Equatable {
        var tenant: String
        var exp: Double
    }

    @Test("a minted token verifies; a changed byte, another secret or a malformed token do not")
    func verify() {
        let signer = TokenSigner(secret: SecureRandom.bytes(32))
        let token = signer.mint(Claims(tenant: "alice", exp: 10))
        #expect(signer.verify(token, as: Claims.self) == Claims(tenant: "alice", exp: 10))
        var chars = Array(token)
        chars[3] = chars[3] == "A" ? "B" : "A"
        #expect(signer.verify(String(chars), as: Claims.self) == nil)
        #expect(TokenSigner(secret: SecureRandom.bytes(32)).verify(token, as: Claims.self) == nil)
        #expect(signer.verify("nodot", as: Claims.self) == nil)
        #expect(signer.tag("alice") != signer.tag("bob"))
        #expect(signer.tag("alice").count == 16)
    }
}

@Suite("Signing key ring")
struct KeyRingTests {
    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("signing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("first open creates one key in a 0600 file; reopening reads the same key")
    func createAndReopen() throws {
        let directory = try temporaryDirectory()
        let ring = try SigningKeyRing(directory: directory)
        let attributes = try FileManager.default.attributesOfItem(atPath: ring.url.path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(ring.publishedKeys().count == 1)
        let again = try SigningKeyRing(directory: directory)
        #expect(again.signingKey().kid == ring.signingKey().kid)
        #expect(again.signingKey().privateKey.publicKey == ring.signingKey().privateKey.publicKey)
        let jwk = try #require(ring.jwks().first)
        #expect(jwk["kty"] == "OKP" && jwk["crv"] == "Ed25519")
        #expect(Base64URL.decode(jwk["x"]!) == ring.signingKey().privateKey.publicKey)
    }

    @Test("rotation: a delayed key is published before it signs; the old key stays until retired")
    func rotation() throws {
        let directory = try temporaryDirectory()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let ring = try SigningKeyRing(directory: directory, now: start)
        let first = ring.signingKey(now: start).kid
        let second = try SigningKeyRing.rotate(fileAt: ring.url, delay: 3_600, now: start.addingTimeInterval(10))
        // The running ring notices the change (re-read at most once a second).
        let later = start.addingTimeInterval(20)
        #expect(ring.publishedKeys(now: later).map(\.kid) == [first, second.kid])
        #expect(ring.signingKey(now: later).kid == first)
        #expect(ring.signingKey(now: start.addingTimeInterval(3_700)).kid == second.kid)
        #expect(throws: SigningError.self) { try SigningKeyRing.retire(fileAt: ring.url, kid: second.kid, now: start.addingTimeInterval(3_700)) }
        try SigningKeyRing.retire(fileAt: ring.url, kid: first, now: start.addingTimeInterval(3_700))
        #expect(try SigningKeyRing.read(ring.url).map(\.kid) == [second.kid])
        #expect(throws: SigningError.self) { try SigningKeyRing.retire(fileAt: ring.url, kid: "nope") }
    }

    @Test("the secret file is created once with 0600 and read back")
    func secretFile() throws {
        let url = try temporaryDirectory().appendingPathComponent("secret")
        let first = try SecretFile.loadOrCreateKey(at: url)
        #expect(first.count == 32)
        #expect(try SecretFile.loadOrCreateKey(at: url) == first)
        let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }
}
