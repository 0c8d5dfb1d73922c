import Foundation
import GantryCore
import HTTPTypes
import Hummingbird

/// Authenticates runner calls: `Authorization: Bearer ID:SECRET` against the runner tokens (never API keys).
struct RunnerAuth: Sendable {
    let tokens: RunnerTokenRing
    /// API keys may read the instance list (`GET /runners/v1/runners`) but nothing else.
    let apiKeys: KeyRing

    /// The runner token of the request, or a 401.
    func token(_ request: Request) throws -> RunnerToken {
        guard let presented = Self.bearer(request), let token = tokens.token(for: presented) else {
            var headers = HTTPFields()
            headers[.wwwAuthenticate] = "Bearer"
            throw APIError(.unauthorized, "unauthorized", "Missing or invalid runner token: send 'Authorization: Bearer ID:SECRET'",
                           headers: headers)
        }
        return token
    }

    /// Whether the request may read admin listings: a runner token, or an API key (or no keys configured).
    func mayList(_ request: Request) -> Bool {
        if (try? token(request)) != nil { return true }
        guard apiKeys.isEnabled else { return true }
        guard let header = request.headers[.authorization], let presented = AuthMiddleware.token(from: header) else { return false }
        return apiKeys.tenant(for: presented) != nil
    }

    private static func bearer(_ request: Request) -> String? {
        guard let header = request.headers[.authorization], header.count > 7, header.lowercased().hasPrefix("bearer ") else { return nil }
        return String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
    }
}
