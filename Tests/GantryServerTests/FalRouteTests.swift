@testable import GantryServer
import HTTPTypes
import Hummingbird
import Testing

/// One row of the routing table: a request and the route it must parse to (nil: not a fal route).
struct RouteCase: Sendable, CustomTestStringConvertible {
    var method: HTTPRequest.Method
    var path: String
    var host: String? = "localhost"
    var runPrefix = ""
    var expected: FalRoute?

    var testDescription: String { "\(method) \(host ?? "-")\(path)" }
}

private func request(_ owner: Substring = "gantry", _ alias: Substring = "image", id: Substring = "r1", namespace: Substring? = nil) -> FalRoute.RequestPath {
    FalRoute.RequestPath(namespace: namespace, owner: owner, alias: alias, id: id)
}

private let table: [RouteCase] = [
    // Submit: queue prefix or a queue. host, with or without the endpoint path, with a namespace.
    RouteCase(method: .post, path: "/queue/gantry/echo", expected: .submit(app: ["gantry", "echo"], namespace: nil)),
    RouteCase(method: .post, path: "/queue/gantry/image/convert", expected: .submit(app: ["gantry", "image", "convert"], namespace: nil)),
    RouteCase(method: .post, path: "/queue/workflows/gantry/echo", expected: .submit(app: ["gantry", "echo"], namespace: "workflows")),
    RouteCase(method: .post, path: "/gantry/echo", host: "queue.gantry.test", expected: .submit(app: ["gantry", "echo"], namespace: nil)),
    RouteCase(method: .post, path: "/gantry/echo", host: "QUEUE.gantry.test:8443", expected: .submit(app: ["gantry", "echo"], namespace: nil)),
    RouteCase(method: .post, path: "/queue/gantry/echo/", expected: .submit(app: ["gantry", "echo"], namespace: nil)),
    // Run surface: everything else.
    RouteCase(method: .post, path: "/gantry/echo", expected: .run(app: ["gantry", "echo"], namespace: nil)),
    RouteCase(method: .post, path: "/gantry/image/convert", host: nil, expected: .run(app: ["gantry", "image", "convert"], namespace: nil)),
    RouteCase(method: .post, path: "/comfy/gantry/echo", expected: .run(app: ["gantry", "echo"], namespace: "comfy")),
    RouteCase(method: .post, path: "/r/gantry/echo", runPrefix: "/r", expected: .run(app: ["gantry", "echo"], namespace: nil)),
    RouteCase(method: .post, path: "/gantry/echo", runPrefix: "/r", expected: nil),
    RouteCase(method: .post, path: "/queuex/gantry/echo", expected: .run(app: ["queuex", "gantry", "echo"], namespace: nil)),
    // Status, stream, result, cancel: keyed by owner/alias, optionally namespaced.
    RouteCase(method: .get, path: "/queue/gantry/image/requests/r1/status", expected: .status(request(), stream: false)),
    RouteCase(method: .get, path: "/queue/gantry/image/requests/r1/status/stream", expected: .status(request(), stream: true)),
    RouteCase(method: .get, path: "/queue/gantry/image/requests/r1", expected: .result(request())),
    RouteCase(method: .put, path: "/queue/gantry/image/requests/r1/cancel", expected: .cancel(request())),
    RouteCase(method: .get, path: "/queue/workflows/gantry/image/requests/r1/status", expected: .status(request(namespace: "workflows"), stream: false)),
    RouteCase(method: .get, path: "/queue/comfy/gantry/echo/requests/r1", expected: .result(request("gantry", "echo", namespace: "comfy"))),
    RouteCase(method: .get, path: "/gantry/echo/requests/r1/status", host: "queue.gantry.test", expected: .status(request("gantry", "echo"), stream: false)),
    // Wrong methods and shapes.
    RouteCase(method: .get, path: "/gantry/echo", expected: nil),
    RouteCase(method: .put, path: "/queue/gantry/echo", expected: nil),
    RouteCase(method: .delete, path: "/queue/gantry/echo", expected: nil),
    RouteCase(method: .post, path: "/queue/gantry/echo/requests/r1/status", expected: nil),
    RouteCase(method: .get, path: "/queue/gantry/echo/requests/r1/cancel", expected: nil),
    RouteCase(method: .delete, path: "/queue/gantry/echo/requests/r1/cancel", expected: nil),
    RouteCase(method: .put, path: "/queue/gantry/echo/requests/r1", expected: nil),
    RouteCase(method: .get, path: "/queue/gantry/echo/requests/r1/logs", expected: nil),
    RouteCase(method: .get, path: "/gantry/echo/requests/r1/status", expected: nil),
    RouteCase(method: .post, path: "/queue/gantry", expected: nil),
    RouteCase(method: .post, path: "/queue/workflows/gantry", expected: nil),
    RouteCase(method: .post, path: "/gantry//echo", expected: nil),
    RouteCase(method: .post, path: "/", expected: nil),
]

@Suite("FalRoute")
struct FalRouteTests {
    @Test(arguments: table)
    func parse(_ row: RouteCase) {
        let route = FalRoute.parse(method: row.method, path: row.path, host: row.host, queuePrefix: "/queue", runPrefix: row.runPrefix)
        #expect(route == row.expected)
    }

    /// The queue host works with an empty queue prefix too.
    @Test func emptyQueuePrefix() {
        let route = FalRoute.parse(method: .put, path: "/gantry/echo/requests/r1/cancel", host: "queue.example", queuePrefix: "", runPrefix: "")
        #expect(route == .cancel(request("gantry", "echo")))
        #expect(FalRoute.parse(method: .post, path: "/gantry/echo", host: "example", queuePrefix: "", runPrefix: "") == .run(app: ["gantry", "echo"], namespace: nil))
    }

    /// A configured queue prefix replaces `/queue`; the old prefix is then just a path on the run surface.
    @Test func customQueuePrefix() {
        let submit = FalRoute.parse(method: .post, path: "/q/gantry/echo", host: nil, queuePrefix: "/q", runPrefix: "")
        #expect(submit == .submit(app: ["gantry", "echo"], namespace: nil))
        let run = FalRoute.parse(method: .post, path: "/queue/gantry/echo", host: nil, queuePrefix: "/q", runPrefix: "")
        #expect(run == .run(app: ["queue", "gantry", "echo"], namespace: nil))
        let status = FalRoute.parse(method: .get, path: "/q/gantry/echo/requests/r1/status", host: nil, queuePrefix: "/q", runPrefix: "/r")
        #expect(status == .status(request("gantry", "echo"), stream: false))
    }

    /// The app prefix a request path names is owner/alias only.
    @Test func appPrefix() {
        #expect(request("fal-ai", "fooocus", namespace: "workflows").appPrefix == "fal-ai/fooocus")
    }
}
