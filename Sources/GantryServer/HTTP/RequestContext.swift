import HTTPTypes
import Hummingbird

/// The per-request context: Hummingbird's core storage plus the tenant the API key resolved to.
public struct GantryRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The authenticated tenant; `default` when the host runs without keys.
    public var tenant: String = "default"

    public init(source: Source) {
        coreContext = .init(source: source)
    }
}

/// Authenticates `Authorization: Key <token>` (or `Bearer <token>`), or Fooocus-API's `X-API-KEY: <token>`, against
/// the key ring; both map to the same tenants. Health, readiness, `/ping`, metrics, OpenAPI and served files stay
/// public, like a CDN's. A missing or wrong key is 401 with the envelope on every surface (Fooocus-API's own 403
/// `{"detail":"Forbidden"}` is not mimicked: its clients only check for a non-200).
struct AuthMiddleware: RouterMiddleware {
    typealias Context = GantryRequestContext
    let keys: KeyRing

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard keys.isEnabled, !Self.isPublic(request.uri.path) else { return try await next(request, context) }
        var context = context
        let token = request.headers[.authorization].flatMap(Self.token(from:))
            ?? request.headers[Self.xAPIKey].map { $0.trimmingCharacters(in: .whitespaces) }
        guard let token, let tenant = keys.tenant(for: token) else {
            var headers = HTTPFields()
            headers[.wwwAuthenticate] = "Key"
            throw APIError(.unauthorized, "unauthorized", "Missing or invalid API key: send 'Authorization: Key <token>' or 'X-API-KEY: <token>'",
                           headers: headers)
        }
        context.tenant = tenant
        return try await next(request, context)
    }

    static func token(from header: String) -> String? {
        for scheme in ["Key ", "Bearer "] where header.count > scheme.count && header.lowercased().hasPrefix(scheme.lowercased()) {
            return String(header.dropFirst(scheme.count)).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    /// Fooocus-API's key header.
    static let xAPIKey = HTTPField.Name("x-api-key")!

    /// Paths without an API key: liveness and the like, served files (capability URLs, like a CDN's), and the
    /// runner protocol, which authenticates runner tokens itself (runners never hold API keys).
    static func isPublic(_ path: String) -> Bool {
        ["/health", "/ready", "/ping", "/metrics", "/openapi.json", "/.well-known/jwks.json"].contains(path) || path.hasPrefix("/files/")
            || path.hasPrefix(RunnerRoutes.prefix + "/")
    }
}
