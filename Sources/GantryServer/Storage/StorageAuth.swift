import Foundation
import GantryCore
import HTTPTypes
import Hummingbird
import Signing

/// The claims of the host's storage credentials, HMAC-signed with the storage secret (`TokenSigner`): self-contained,
/// so nothing is stored per token and any process with the same data directory accepts them.
struct StorageClaims: Codable, Sendable, Equatable {
    enum Purpose: String, Codable, Sendable {
        /// A CDN token (`POST /storage/auth/token`): authenticates uploads as `tenant`.
        case storage
        /// A signed upload URL (`POST /storage/upload/initiate`): one PUT of `key` with `contentType`.
        case upload
    }

    var tenant: String
    var purpose: Purpose
    /// Unix seconds after which the credential is refused.
    var expires: Double
    var key: String?
    var contentType: String?

    enum CodingKeys: String, CodingKey {
        case tenant = "tnt", purpose = "pur", expires = "exp", key, contentType = "ct"
    }
}

/// Mints and checks storage tokens and signed upload URLs, and finds the tenant of an upload request.
///
/// Upload routes live under `/files/`, which `AuthMiddleware` leaves public (files are served like a CDN's), so they
/// authenticate here: a storage token (`Authorization: Bearer <token>`) or an API key (`Key <k>` / `Bearer <k>`).
struct StorageAuth: Sendable {
    let signer: TokenSigner
    let keys: KeyRing
    /// Tenants that have a key; a token of a tenant whose keys were all removed stops working.
    let tenants: Set<String>
    let ttl: TimeInterval
    let now: @Sendable () -> Date

    init(signer: TokenSigner, apiKeys: [APIKey], ttl: TimeInterval, now: @escaping @Sendable () -> Date) {
        self.signer = signer
        self.keys = KeyRing(apiKeys)
        self.tenants = Set(apiKeys.map(\.tenant))
        self.ttl = ttl
        self.now = now
    }

    /// A storage token of `tenant` and its expiry (whole seconds).
    func mintStorageToken(tenant: String) -> (token: String, expires: Date) {
        let expires = (now().timeIntervalSince1970 + ttl).rounded(.down)
        return (signer.mint(StorageClaims(tenant: tenant, purpose: .storage, expires: expires)), Date(timeIntervalSince1970: expires))
    }

    /// The signature of an upload URL allowing one PUT of `key` by `tenant`.
    func mintUploadToken(tenant: String, key: String, contentType: String) -> String {
        let expires = (now().timeIntervalSince1970 + ttl).rounded(.down)
        return signer.mint(StorageClaims(tenant: tenant, purpose: .upload, expires: expires, key: key, contentType: contentType))
    }

    /// The tenant an upload request acts for.
    /// - Throws: 401 for a missing (when keys are configured), wrong or expired credential.
    func tenant(of request: Request) throws -> String {
        guard let header = request.headers[.authorization], let presented = AuthMiddleware.token(from: header) else {
            // Fooocus-API's header carries an API key, as it does on every other route.
            if let apiKey = request.headers[AuthMiddleware.xAPIKey]?.trimmingCharacters(in: .whitespaces), !apiKey.isEmpty, keys.isEnabled {
                guard let tenant = keys.tenant(for: apiKey) else { throw Self.unauthorized("Invalid API key") }
                return tenant
            }
            if keys.isEnabled { throw Self.unauthorized("Missing credentials: send 'Authorization: Bearer <storage token>', 'Authorization: Key <api key>' or 'X-API-KEY: <api key>'") }
            return "default"
        }
        if let claims = signer.verify(presented, as: StorageClaims.self) {
            guard claims.purpose == .storage, isKnown(claims.tenant) else { throw Self.unauthorized("Invalid storage token") }
            guard claims.expires > now().timeIntervalSince1970 else {
                throw APIError(.unauthorized, "token_expired", "Storage token expired; request a new one", headers: [.wwwAuthenticate: "Bearer"])
            }
            return claims.tenant
        }
        if keys.isEnabled {
            guard let tenant = keys.tenant(for: presented) else { throw Self.unauthorized("Invalid storage token or API key") }
            return tenant
        }
        // Without keys any string is an API key, but a storage token that fails its check is still refused.
        if Self.looksLikeToken(presented) { throw Self.unauthorized("Invalid storage token") }
        return "default"
    }

    /// The claims of a signed upload URL for `key`.
    /// - Throws: 401 without a signature; 403 for one that was tampered with, names another file, or expired.
    func uploadClaims(signature: String?, key: String) throws -> StorageClaims {
        guard let signature, !signature.isEmpty else {
            throw Self.unauthorized("Missing upload signature: PUT to the upload_url that /storage/upload/initiate returned")
        }
        guard let claims = signer.verify(signature, as: StorageClaims.self), claims.purpose == .upload, claims.key == key,
              isKnown(claims.tenant) else {
            throw APIError(.forbidden, "invalid_signature", "The upload URL's signature does not match this file")
        }
        guard claims.expires > now().timeIntervalSince1970 else {
            throw APIError(.forbidden, "signature_expired", "The upload URL has expired; initiate the upload again")
        }
        return claims
    }

    private func isKnown(_ tenant: String) -> Bool {
        keys.isEnabled ? tenants.contains(tenant) : tenant == "default"
    }

    static func unauthorized(_ message: String) -> APIError {
        APIError(.unauthorized, "unauthorized", message, headers: [.wwwAuthenticate: "Bearer"])
    }

    /// `base64url "." base64url(32-byte MAC)`: the shape `TokenSigner` mints.
    static func looksLikeToken(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let alphabet = { (c: Character) in c.isASCII && (c.isLetter || c.isNumber || c == "-" || c == "_") }
        return parts.count == 2 && !parts[0].isEmpty && parts[1].count == 43 && parts.allSatisfy { $0.allSatisfy(alphabet) }
    }
}

/// `2030-01-01T00:00:00+00:00`: ISO 8601 with an explicit offset, which Python's `datetime.fromisoformat` reads as
/// an aware datetime on every version (fal_client compares it with `now(UTC)`).
func isoTimestampWithOffset(_ date: Date) -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "UTC")
    formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
    return formatter.string(from: date) + "+00:00"
}
