import Foundation

/// Self-contained, tamper-proof tokens: `base64url(claims JSON) "." base64url(HMAC-SHA-256(secret, claims JSON))`.
///
/// The claims carry their own expiry and scope (tenant, purpose); any process holding the same secret accepts them,
/// so no token table is needed. The MAC is compared in constant time.
public struct TokenSigner: Sendable {
    private let secret: [UInt8]

    /// - Parameter secret: at least 32 random bytes (`SecretFile.loadOrCreateKey`).
    public init(secret: [UInt8]) {
        precondition(secret.count >= 32, "token secrets must have at least 32 bytes")
        self.secret = secret
    }

    /// A token carrying `claims`.
    public func mint<Claims: Encodable>(_ claims: Claims) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let payload = Array((try? encoder.encode(claims)) ?? Data())
        return Base64URL.encode(payload) + "." + Base64URL.encode(HMACSHA256.mac(key: secret, data: payload))
    }

    /// The claims of a token this signer minted, or nil for anything else (wrong MAC, malformed, wrong shape).
    public func verify<Claims: Decodable>(_ token: String, as type: Claims.Type) -> Claims? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let payload = Base64URL.decode(String(parts[0])), let mac = Base64URL.decode(String(parts[1])),
              constantTimeEqual(mac, HMACSHA256.mac(key: secret, data: payload)) else { return nil }
        return try? JSONDecoder().decode(Claims.self, from: Data(payload))
    }

    /// A short keyed tag of `text` (hex, `length` characters): names that prove who they were made for.
    public func tag(_ text: String, length: Int = 16) -> String {
        String(Hex.encode(HMACSHA256.mac(key: secret, data: Array(("tag:" + text).utf8))).prefix(length))
    }
}
