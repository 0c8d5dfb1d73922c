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

/// Authenticates `Authorization: Key <token>` (or `Bearer <token>`) against the key ring. Health, readiness,
/// metrics, OpenAPI and served files stay public, like a CDN's.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = GantryRequestContext
    let keys: KeyRing

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard keys.isEnabled, !Self.isPublic(request.uri.path) else { return try await next(request, context) }
        var context = context
        guard let header = request.headers[.authorization], let token = Self.token(from: header), let tenant = keys.tenant(for: token) else {
            var headers = HTTPFields()
            headers[.wwwAuthenticate] = "Key"
            throw APIError(.unauthorized, "unauthorized", "Missing or invalid API key: send 'Authorization: Key <token>'", headers: headers)
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

    static func isPublic(_ path: String) -> Bool {
        ["/health", "/ready", "/metrics", "/openapi.json", "/.well-known/jwks.json"].contains(path) || path.hasPrefix("/files/")
    }
}
