import Foundation
import GantryCore
@testable import GantryServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("fal run surface, input errors and app routes (router)")
struct RunSurfaceTests {
    /// The run surface answers with the output itself (defaults applied), not an envelope.
    @Test func runReturnsOutput() async throws {
        try await withHost { host in
            try await host.application.test(.router) { client in
                let reply = try await client.send(.post, "/gantry/echo", json: #"{"x":[1,2],"progress":2}"#)
                #expect(reply.status == .ok)
                #expect(reply.json == .object(["x": .array([.number(1), .number(2)]), "progress": .number(2), "sync_mode": .bool(false)]))
                #expect(reply.header("x-fal-request-id") != nil)
                let empty = try await client.send(.post, "/gantry/echo")
                #expect(empty.json == .object(["sync_mode": .bool(false)]))
            }
        }
    }

    /// A failing run answers with the function's status and envelope.
    @Test func runFailure() async throws {
        try await withHost { host in
            try await host.application.test(.router) { client in
                let reply = try await client.send(.post, "/gantry/echo", json: #"{"fail_with":"nope"}"#)
                #expect(reply.status == .internalServerError)
                #expect(reply.json == .object(["detail": .string("nope"), "error_type": .string("function_error")]))
                #expect(reply.header("x-fal-error-type") == "function_error")
            }
        }
    }

    /// Schema violations are a 422 listing each problem with loc, msg and type, on both surfaces.
    @Test(arguments: ["/gantry/echo", "/queue/gantry/echo"])
    func invalidInput(path: String) async throws {
        try await withHost { host in
            try await host.application.test(.router) { client in
                let reply = try await client.send(.post, path, json: #"{"delay_ms":"slow","progress":1.5,"logs":["a",2]}"#)
                #expect(reply.status == .unprocessableContent)
                #expect(reply.json["error_type"] == .string("validation_error"))
                let detail = try #require(reply.json["detail"]?.arrayValue)
                #expect(detail.map { $0["loc"] } == [
                    .array([.string("body"), .string("delay_ms")]),
                    .array([.string("body"), .string("logs"), .number(1)]),
                    .array([.string("body"), .string("progress")]),
                ])
                #expect(detail.map { $0["type"] } == [.string("float_type"), .string("string_type"), .string("int_from_float")])
                #expect(detail.allSatisfy { $0["msg"]?.stringValue?.isEmpty == false })
            }
        }
    }

    /// Malformed JSON is 400 json_invalid; a non-object body 422; a non-JSON content type 415.
    @Test func malformedBodies() async throws {
        try await withHost { host in
            try await host.application.test(.router) { client in
                let malformed = try await client.send(.post, "/queue/gantry/echo", json: #"{"x":"#)
                #expect(malformed.status == .badRequest)
                #expect(malformed.json["error_type"] == .string("json_invalid"))
                #expect(malformed.json["detail"]?.arrayValue?.first?["loc"] == .array([.string("body")]))
                let array = try await client.send(.post, "/queue/gantry/echo", json: "[1]")
                #expect(array.status == .unprocessableContent)
                let text = try await client.send(.post, "/gantry/echo", json: "{}", headers: [.contentType: "text/plain"])
                #expect(text.status == .unsupportedMediaType)
                #expect(text.json["error_type"] == .string("unsupported_media_type"))
                let vendor = try await client.send(.post, "/gantry/echo", json: "{}", headers: [.contentType: "application/vnd.api+json; charset=utf-8"])
                #expect(vendor.status == .ok)
            }
        }
    }

    /// Unknown functions and paths are 404 with the envelope, on every surface.
    @Test(arguments: [(HTTPRequest.Method.post, "/queue/gantry/nope"), (.post, "/gantry/nope"), (.post, "/gantry/echo/extra"),
                      (.get, "/nothing/here"), (.get, "/queue/gantry/echo/requests/unknown-id/status")])
    func notFound(method: HTTPRequest.Method, path: String) async throws {
        try await withHost { host in
            try await host.application.test(.router) { client in
                let reply = try await client.send(method, path, json: method == .post ? "{}" : nil)
                #expect(reply.status == .notFound)
                #expect(reply.json["detail"]?.stringValue?.isEmpty == false)
                #expect(reply.json["error_type"]?.stringValue?.isEmpty == false)
            }
        }
    }

    /// A function with an endpoint path submits under its full id; its request routes are keyed by owner/alias,
    /// with or without a `workflows/` namespace.
    @Test func endpointPathAndNamespace() async throws {
        try await withHost { host in
            try await host.application.test(.router) { client in
                let body = #"{"image_url":"\#(try pngDataURI())","sync_mode":true}"#
                let submitted = try await client.submit("gantry/image/convert", body)
                let id = try #require(submitted["request_id"]?.stringValue)
                #expect(submitted["status_url"]?.stringValue?.hasSuffix("/queue/gantry/image/requests/\(id)/status") == true)
                let done = try await client.waitForStatus(submitted["status_url"], "COMPLETED")
                #expect(done.json["error"] == nil, "\(done.text)")
                let namespaced = try await client.send(.get, "/queue/workflows/gantry/image/requests/\(id)/status")
                #expect(namespaced.status == .ok)
                #expect(namespaced.json["status_url"]?.stringValue?.contains("/queue/workflows/gantry/image/requests/") == true)
                let result = try await client.send(.get, "/queue/comfy/gantry/image/requests/\(id)")
                #expect(result.json["image"]?["url"]?.stringValue?.hasPrefix("data:image/png;base64,") == true)
                let withPath = try await client.send(.get, "/queue/gantry/image/convert/requests/\(id)/status")
                #expect(withPath.status == .ok)
                // A request of one app is not visible under another app's path.
                #expect(try await client.send(.get, "/queue/gantry/echo/requests/\(id)/status").status == .notFound)
            }
        }
    }

    /// A submit through the `workflows/` namespace hands out namespaced URLs that work.
    @Test func namespacedSubmit() async throws {
        try await withHost { host in
            try await host.application.test(.router) { client in
                let submitted = try await client.submit("workflows/gantry/echo", #"{"n":1}"#)
                #expect(submitted["status_url"]?.stringValue?.contains("/queue/workflows/gantry/echo/requests/") == true)
                _ = try await client.waitForStatus(submitted["status_url"], "COMPLETED")
                let result = try await client.send(.get, pathOf(submitted["response_url"]!.stringValue!)!)
                #expect(result.json["n"] == .number(1))
            }
        }
    }
}
