import Dispatch
import Hummingbird
import Metrics
import Synchronization

/// Counts requests and times them per route, method and status.
///
/// It records the same series as Hummingbird's `MetricsMiddleware` (`hb.requests`, `hb.request.errors`,
/// `http.server.request.duration`, `http.server.active_requests`), but when the route returns its response
/// instead of after the body is written. Hummingbird's version wraps every body in a post-write closure, which
/// turns a one-buffer response into a head write and a body write: two flushes, two `write` calls and an extra
/// hop through the channel's writer for every request. The duration here is therefore the time to produce the
/// response, not to send it; a streamed body's own time is not included, and a request counts as active until its
/// route returns (a status stream or a large download stops counting when its body starts).
struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    private let series = SeriesCache()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        let active = series.active(request.method)
        active.increment()
        defer { active.decrement() }
        do {
            let response = try await next(request, context)
            series.endpoint(context.endpointPath ?? "Unknown", request.method, response.status)
                .record(nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            let metrics = series.endpoint(context.endpointPath ?? "NotFound", request.method, status)
            metrics.requests.increment()
            metrics.errors.increment()
            throw error
        }
    }
}

/// The metric handles of each (route, method, status) seen so far, made once.
private final class SeriesCache: Sendable {
    struct Key: Hashable {
        let route: String
        let method: HTTPRequest.Method
        let status: Int
    }

    struct Endpoint: Sendable {
        let requests: Counter
        let errors: Counter
        let duration: Timer

        init(_ key: Key) {
            let dimensions = [("http.route", key.route), ("http.request.method", key.method.rawValue),
                              ("http.response.status_code", String(key.status))]
            requests = Counter(label: "hb.requests", dimensions: dimensions)
            // As Hummingbird labels it: the status under `error.type`.
            errors = Counter(label: "hb.request.errors", dimensions: [("http.route", key.route), ("http.request.method", key.method.rawValue),
                                                                     ("error.type", String(key.status))])
            duration = Timer(label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds)
        }

        func record(nanoseconds: UInt64) {
            requests.increment()
            duration.recordNanoseconds(nanoseconds)
        }
    }

    private let endpoints = Mutex<[Key: Endpoint]>([:])
    private let meters = Mutex<[HTTPRequest.Method: Meter]>([:])

    func endpoint(_ route: String, _ method: HTTPRequest.Method, _ status: HTTPResponse.Status) -> Endpoint {
        let key = Key(route: route, method: method, status: status.code)
        return endpoints.withLock { cache in
            if let found = cache[key] { return found }
            let made = Endpoint(key)
            cache[key] = made
            return made
        }
    }

    func active(_ method: HTTPRequest.Method) -> Meter {
        meters.withLock { cache in
            if let found = cache[method] { return found }
            let made = Meter(label: "http.server.active_requests", dimensions: [("http.request.method", method.rawValue)])
            cache[method] = made
            return made
        }
    }
}
