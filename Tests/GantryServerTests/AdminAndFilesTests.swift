import Foundation
import GantryCore
@testable import GantryServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Imaging
import Testing

private func key(_ token: String) -> HTTPFields { [.authorization: "Key \(token)"] }

@Suite("Auth, admin routes and files (router)")
struct AdminAndFilesTests {
    /// Missing or wrong keys get a 401 envelope with WWW-Authenticate; the right key (Key or Bearer) gets in.
    @Test func authentication() async throws {
        try await withHost(HostOptions(apiKeys: ["alice:one", "bob:two"])) { host in
            try await host.application.test(.router) { client in
                for headers: HTTPFields in [[:], key("alice:wrong"), key("alice"), [.authorization: "Basic YWxpY2U6b25l"], [.authorization: "Key "]] {
                    let reply = try await client.send(.post, "/queue/gantry/echo", json: "{}", headers: headers)
                    #expect(reply.status == .unauthorized, "\(headers)")
                    #expect(reply.headers[.wwwAuthenticate] == "Key")
                    #expect(reply.json["error_type"] == .string("unauthorized"))
                    #expect(reply.json["detail"]?.stringValue != nil)
                }
                #expect(try await client.send(.post, "/queue/gantry/echo", json: "{}", headers: key("alice:one")).status == .ok)
                #expect(try await client.send(.post, "/gantry/echo", json: "{}", headers: [.authorization: "Bearer bob:two"]).status == .ok)
                #expect(try await client.send(.get, "/health").status == .ok)
            }
        }
    }

    /// Another tenant's request is indistinguishable from an unknown id on status, result and cancel.
    @Test func tenantsAreIsolated() async throws {
        try await withHost(HostOptions(apiKeys: ["alice:one", "bob:two"])) { host in
            try await host.application.test(.router) { client in
                let bobs = try await client.submit("gantry/echo", headers: key("bob:two"))
                let id = try #require(bobs["request_id"]?.stringValue)
                _ = try await client.waitForStatus(bobs["status_url"], "COMPLETED", headers: key("bob:two"))
                let unknown = UUID().uuidString.lowercased()
                for (method, suffix) in [(HTTPRequest.Method.get, "/status"), (.get, ""), (.put, "/cancel")] {
                    let foreign = try await client.send(method, "/queue/gantry/echo/requests/\(id)\(suffix)", headers: key("alice:one"))
                    let missing = try await client.send(method, "/queue/gantry/echo/requests/\(unknown)\(suffix)", headers: key("alice:one"))
                    #expect(foreign.status == .notFound)
                    #expect(foreign.status == missing.status)
                    #expect(foreign.bytes == missing.bytes, "\(foreign.text) vs \(missing.text)")
                    #expect(foreign.headers[.contentType] == missing.headers[.contentType])
                }
                #expect(try await client.send(.get, "/queue/gantry/echo/requests/\(id)", headers: key("bob:two")).status == .ok)
            }
        }
    }

    /// Liveness, readiness, metrics and the OpenAPI document (a run and a queue path per function).
    @Test func adminRoutes() async throws {
        try await withHost(HostOptions(apiKeys: ["alice:one"])) { host in
            try await host.application.test(.router) { client in
                let health = try await client.send(.get, "/health")
                #expect(health.status == .ok)
                #expect(health.json == .object(["status": .string("ok")]))
                #expect(try await client.send(.get, "/ready").status == .ok)
                let metrics = try await client.send(.get, "/metrics")
                #expect(metrics.status == .ok)
                #expect(metrics.headers[.contentType]?.hasPrefix("text/plain") == true)
                let openAPI = try await client.send(.get, "/openapi.json")
                #expect(openAPI.status == .ok)
                #expect(openAPI.json["openapi"]?.stringValue?.hasPrefix("3.") == true)
                let paths = try #require(openAPI.json["paths"]?.objectValue)
                for function in host.queue.functions {
                    #expect(paths["/\(function.id)"]?["post"] != nil, "run path of \(function.id)")
                    #expect(paths["/queue/\(function.id)"]?["post"] != nil, "queue path of \(function.id)")
                }
                // The run path declares the failures a run can end with (echo's fail_with is a 500).
                let echoResponses = try #require(paths["/gantry/echo"]?["post"]?["responses"]?.objectValue)
                #expect(Set(echoResponses.keys).isSuperset(of: ["200", "400", "401", "413", "415", "422", "500", "503", "504"]))
                let ids = Set(host.queue.functions.map(\.id))
                #expect(ids.isSuperset(of: ["gantry/echo", "gantry/image/convert", "fal-ai/fooocus/inpaint", "fal-ai/fooocus/upscale-or-vary"]))
                // Every $ref points at a component that exists.
                let schemas = try #require(openAPI.json["components"]?["schemas"]?.objectValue)
                for ref in refs(in: openAPI.json) {
                    #expect(schemas[String(ref.split(separator: "/").last!)] != nil, "\(ref)")
                }
            }
        }
    }

    /// An output file is served with type, length, a strong ETag and long caching; a matching If-None-Match is 304.
    @Test func servesOutputFiles() async throws {
        try await withHost { host in
            try await host.application.test(.router) { client in
                let run = try await client.send(.post, "/gantry/image/convert", json: #"{"image_url":"\#(try pngDataURI())","output_format":"webp"}"#)
                #expect(run.status == .ok, "\(run.text)")
                let image = try #require(run.json["image"])
                let url = try #require(image["url"]?.stringValue)
                #expect(url.hasPrefix(host.publicURL.string + "/files/"))
                #expect(image["width"] == .number(2))
                let file = try await client.send(.get, try #require(pathOf(url)))
                #expect(file.status == .ok)
                #expect(file.headers[.contentType] == "image/webp")
                #expect(file.headers[.contentLength] == String(file.bytes.count))
                #expect(image["file_size"] == .number(Double(file.bytes.count)))
                #expect(ImageCodec.sniff(file.bytes) == .webp)
                #expect(file.headers[.cacheControl]?.contains("max-age") == true)
                let etag = try #require(file.headers[.eTag])
                #expect(etag.hasPrefix("\"") && etag.hasSuffix("\""))
                let cached = try await client.send(.get, pathOf(url)!, headers: [.ifNoneMatch: etag])
                #expect(cached.status == .notModified)
                #expect(cached.bytes.isEmpty)
                #expect(try await client.send(.get, pathOf(url)!, headers: [.ifNoneMatch: "\"other\""]).status == .ok)
            }
        }
    }

    /// Keys the stores never produce, and traversal attempts, are 404.
    @Test(arguments: ["/files/2026-11-21/missing.png", "/files/../functions/gantry/echo.json", "/files/2026-11-21/..%2F..%2Fgantry.sqlite",
                      "/files/..%2Fgantry.sqlite/x.png", "/files/2026-11-21/.hidden", "/files/abc/x.png", "/files/2026-11-21",
                      "/files/2026-11-21/a/b.png", "/files/%2e%2e/%2e%2e"])
    func invalidFileKeys(path: String) async throws {
        try await withHost { host in
            try await host.application.test(.router) { client in
                let reply = try await client.send(.get, path)
                #expect(reply.status == .notFound)
                #expect(reply.json["error_type"]?.stringValue != nil)
            }
        }
    }
}

/// Every `$ref` string in a document.
private func refs(in value: JSONValue) -> [String] {
    switch value {
    case .object(let object): (object["$ref"]?.stringValue.map { [$0] } ?? []) + object.values.flatMap(refs(in:))
    case .array(let items): items.flatMap(refs(in:))
    default: []
    }
}
