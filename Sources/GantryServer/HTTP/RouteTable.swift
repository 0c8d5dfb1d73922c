import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The host's router as the route files see it. Every route goes to Hummingbird's router and is also recorded in a
/// `MethodIndex`, so a request whose path exists under other methods gets 405 with `Allow` rather than 404.
final class RouteTable: RouterMethods {
    typealias Context = GantryRequestContext

    let router: Router<GantryRequestContext>
    let methods: MethodIndex
    private let probe = Router(context: MethodIndex.ProbeContext.self, options: .autoGenerateHeadEndpoints)
    private var registered: Set<HTTPRequest.Method> = []

    init(router: Router<GantryRequestContext>, methods: MethodIndex) {
        self.router = router
        self.methods = methods
    }

    @discardableResult
    func on<Responder: HTTPResponder>(_ path: RouterPath, method: HTTPRequest.Method, responder: Responder) -> Self
    where Responder.Context == GantryRequestContext {
        router.on(path, method: method, responder: responder)
        probe.on(path, method: method) { _, _ in Response(status: .ok) }
        registered.insert(method)
        return self
    }

    @discardableResult
    func add(middleware: any MiddlewareProtocol<Request, Response, GantryRequestContext>) -> Self {
        router.add(middleware: middleware)
        return self
    }

    /// Hands what was registered to the index; call once every route is on.
    func seal() {
        let candidates = registered.contains(.get) ? registered.union([.head]) : registered
        methods.install(probe.buildResponder(), candidates: candidates)
    }
}

/// Which methods a path has routes for.
final class MethodIndex: Sendable {
    struct ProbeContext: RequestContext {
        typealias Source = ProbeSource
        var coreContext: CoreRequestContextStorage
        init(source: ProbeSource) { coreContext = .init(source: source) }
    }

    struct ProbeSource: RequestContextSource {
        let logger: Logger
    }

    private struct Installed: Sendable {
        let responder: RouterResponder<ProbeContext>
        let candidates: [HTTPRequest.Method]
    }

    private let installed = Mutex<Installed?>(nil)
    private let logger = Logger(label: "gantry.routes")

    init() {}

    fileprivate func install(_ responder: RouterResponder<ProbeContext>, candidates: Set<HTTPRequest.Method>) {
        let order: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options]
        installed.withLock { $0 = Installed(responder: responder, candidates: order.filter(candidates.contains)) }
    }

    /// The methods with a route for `path`, in a fixed order (empty when the path has none).
    func allowed(path: String) async -> [HTTPRequest.Method] {
        guard let installed = installed.withLock({ $0 }) else { return [] }
        var allowed: [HTTPRequest.Method] = []
        for method in installed.candidates {
            let request = Request(head: HTTPRequest(method: method, scheme: nil, authority: nil, path: path),
                                  body: RequestBody(buffer: ByteBuffer()))
            let context = ProbeContext(source: ProbeSource(logger: logger))
            if let response = try? await installed.responder.respond(to: request, context: context), response.status == .ok {
                allowed.append(method)
            }
        }
        return allowed
    }
}
