import Foundation
import GantryCore
@testable import GantryServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Imaging
import Signing
import Testing

let storageKeys = ["alice:one", "bob:two"]
func apiKey(_ token: String) -> HTTPFields { [.authorization: "Key \(token)"] }
func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }
/// A pydantic-style `loc` list.
func locPath(_ parts: String...) -> JSONValue { .array(parts.map { .string($0) }) }

extension TestClientProtocol {
    /// Sends raw bytes with the given headers.
    func sendBytes(_ method: HTTPRequest.Method, _ uri: String, _ body: Data, headers: HTTPFields = [:]) async throws -> Reply {
        Reply(response: try await executeRequest(uri: uri, method: method, headers: headers, body: ByteBuffer(data: body)))
    }

    /// A storage token for an API key, failing the test unless the host grants one.
    func storageToken(_ key: String? = nil) async throws -> String {
        let reply = try await send(.post, "/storage/auth/token?storage_type=fal-cdn-v3", json: "{}", headers: key.map(apiKey) ?? [:])
        try #require(reply.status == .ok, "token answered \(reply.status): \(reply.text)")
        return try #require(reply.json["token"]?.stringValue)
    }

    /// Uploads bytes single-shot and returns the access URL.
    func uploadFile(_ data: Data, type: String, name: String? = nil, auth: HTTPFields) async throws -> String {
        var headers = auth
        headers[.contentType] = type
        if let name { headers[.falFileName] = name }
        let reply = try await sendBytes(.post, "/files/upload", data, headers: headers)
        try #require(reply.status == .ok, "upload answered \(reply.status): \(reply.text)")
        return try #require(reply.json["access_url"]?.stringValue)
    }
}

/// A signer over the host's storage secret, to mint credentials the host would (expired ones, say).
func storageSigner(_ host: GantryServer.Host) throws -> TokenSigner {
    TokenSigner(secret: try SecretFile.loadOrCreateKey(at: URL(fileURLWithPath: host.configuration.dataDirectory).appendingPathComponent("storage-secret")))
}

func smallPNG() throws -> Data {
    try ImageCodec.encode(Image(width: 3, height: 2, channels: 3, fill: 90), as: .png)
}

@Suite("fal storage API: tokens, uploads, signed PUTs, multipart, store inputs (router and live)")
struct StorageTests {
    /// The token names its type, the CDN base (the host) and an expiry with a `+00:00` offset one TTL away.
    @Test func tokenShape() async throws {
        try await withHost(HostOptions(apiKeys: storageKeys)) { host in
            try await host.application.test(.router) { client in
                let reply = try await client.send(.post, "/storage/auth/token?storage_type=fal-cdn-v3", json: "{}", headers: apiKey("alice:one"))
                #expect(reply.status == .ok)
                #expect(reply.json["token_type"] == .string("Bearer"))
                #expect(reply.json["base_url"] == .string(host.publicURL.string))
                let token = try #require(reply.json["token"]?.stringValue)
                #expect(StorageAuth.looksLikeToken(token))
                let expires = try #require(reply.json["expires_at"]?.stringValue)
                #expect(expires.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00/) != nil, "\(expires)")
                let parsed = try #require(ISO8601DateFormatter().date(from: expires))
                #expect(abs(parsed.timeIntervalSinceNow - 3_600) < 5)
                let claims = try #require(try storageSigner(host).verify(token, as: StorageClaims.self))
                #expect(claims.tenant == "alice" && claims.purpose == .storage)

                #expect(try await client.send(.post, "/storage/auth/token", json: "{}").status == .unauthorized)
                // A storage token is not an API key: it cannot mint more tokens.
                #expect(try await client.send(.post, "/storage/auth/token", json: "{}", headers: bearer(token)).status == .unauthorized)
                let wrongType = try await client.send(.post, "/storage/auth/token?storage_type=s3", json: "{}", headers: apiKey("alice:one"))
                #expect(wrongType.status == .badRequest)
                #expect(wrongType.json["detail"]?.arrayValue?.first?["loc"] == locPath("query", "storage_type"))
            }
        }
    }

    /// A single upload lands under a tenant-tagged key and reads back with its bytes and type; both a storage token
    /// and a plain API key authenticate it.
    @Test func singleUploadRoundTrip() async throws {
        try await withHost(HostOptions(apiKeys: storageKeys)) { host in
            try await host.application.test(.router) { client in
                let png = try smallPNG()
                let token = try await client.storageToken("alice:one")
                let url = try await client.uploadFile(png, type: "image/png", name: "photo.png", auth: bearer(token))
                let key = String(try #require(pathOf(url)).dropFirst("/files/".count))
                #expect(url == "\(host.publicURL.string)/files/\(key)")
                #expect(key.wholeMatch(of: /\d{4}-\d\d-\d\d\/[0-9a-f]{32}-[0-9a-f]{16}\.png/) != nil, "\(key)")
                let naming = FileNaming(signer: try storageSigner(host))
                #expect(naming.isReadable(key: key, by: "alice") && !naming.isReadable(key: key, by: "bob"))

                let served = try await client.send(.get, try #require(pathOf(url)))
                #expect(served.status == .ok)
                #expect(served.bytes == png)
                #expect(served.headers[.contentType] == "image/png")
                #expect(served.header("x-content-type-options") == "nosniff")

                let json = try await client.uploadFile(Data(#"{"a":1}"#.utf8), type: "application/json", auth: apiKey("bob:two"))
                #expect(json.hasSuffix(".json"))
                let text = try await client.send(.get, try #require(pathOf(json)))
                #expect(text.text == #"{"a":1}"#)
                #expect(text.headers[.contentType] == "application/json")
            }
        }
    }

    /// Missing, tampered, expired and orphaned (tenant without a key) credentials are 401s.
    @Test func badCredentials() async throws {
        try await withHost(HostOptions(apiKeys: storageKeys)) { host in
            try await host.application.test(.router) { client in
                let token = try await client.storageToken("alice:one")
                let signer = try storageSigner(host)
                let past = Date().timeIntervalSince1970 - 1
                let expired = signer.mint(StorageClaims(tenant: "alice", purpose: .storage, expires: past))
                let orphan = signer.mint(StorageClaims(tenant: "mallory", purpose: .storage, expires: past + 3_600))
                let uploadPurpose = signer.mint(StorageClaims(tenant: "alice", purpose: .upload, expires: past + 3_600, key: "k", contentType: "a/b"))
                let tampered = String(token.dropLast()) + (token.last == "A" ? "B" : "A")
                let cases: [(HTTPFields, String)] = [
                    ([:], "unauthorized"), (bearer(tampered), "unauthorized"), (bearer(expired), "token_expired"),
                    (bearer(orphan), "unauthorized"), (bearer(uploadPurpose), "unauthorized"), (apiKey("alice:wrong"), "unauthorized"),
                    ([HTTPField.Name("x-api-key")!: "alice:wrong"], "unauthorized"),
                ]
                for (headers, type) in cases {
                    var fields = headers
                    fields[.contentType] = "text/plain"
                    for path in ["/files/upload", "/files/upload/multipart"] {
                        let reply = try await client.sendBytes(.post, path, Data("x".utf8), headers: fields)
                        #expect(reply.status == .unauthorized, "\(path) \(headers)")
                        #expect(reply.json["error_type"] == .string(type), "\(path) \(headers): \(reply.text)")
                    }
                }
                let files = try FileManager.default.contentsOfDirectory(atPath: host.configuration.dataDirectory + "/files")
                #expect(files.isEmpty)
                // Fooocus-API's X-API-KEY works here as on every other route.
                let viaHeader = try await client.uploadFile(Data("fooocus".utf8), type: "text/plain", auth: [HTTPField.Name("x-api-key")!: "alice:one"])
                #expect(try await client.send(.get, try #require(pathOf(viaHeader))).text == "fooocus")
            }
        }
    }

    /// Without API keys everything is tenant `default`, and its tokens work; a forged token is still refused.
    @Test func hostWithoutKeys() async throws {
        try await withHost { host in
            try await host.application.test(.router) { client in
                let token = try await client.storageToken()
                #expect(try storageSigner(host).verify(token, as: StorageClaims.self)?.tenant == "default")
                let url = try await client.uploadFile(Data("hi".utf8), type: "text/plain", auth: bearer(token))
                #expect(try await client.send(.get, try #require(pathOf(url))).text == "hi")
                _ = try await client.uploadFile(Data("hi".utf8), type: "text/plain", auth: [:])
                let forged = String(token.dropLast()) + (token.last == "A" ? "B" : "A")
                let reply = try await client.sendBytes(.post, "/files/upload", Data("x".utf8), headers: bearer(forged))
                #expect(reply.status == .unauthorized)
            }
        }
    }

    /// Bodies over `maxUploadBytes` are 413 `request_too_large` on every upload route, and leave nothing behind.
    @Test(arguments: [TestingSetup.router, .live])
    func overLimit(mode: TestingSetup) async throws {
        var options = HostOptions(apiKeys: storageKeys)
        options.configure = { $0.maxUploadBytes = 4_096 }
        try await withHost(options) { host in
            try await host.application.test(mode) { client in
                let big = Data(repeating: 1, count: 5_000), fits = Data(repeating: 2, count: 4_096)
                let auth = apiKey("alice:one") + [.contentType: "application/octet-stream"]
                let single = try await client.sendBytes(.post, "/files/upload", big, headers: auth)
                #expect(single.status == .contentTooLarge)
                #expect(single.json["error_type"] == .string("request_too_large"))
                _ = try await client.uploadFile(fits, type: "application/octet-stream", auth: apiKey("alice:one"))

                let initiated = try await client.send(.post, "/storage/upload/initiate?storage_type=gcs",
                                                      json: #"{"file_name":"a.bin","content_type":"application/octet-stream"}"#, headers: apiKey("alice:one"))
                let uploadURL = try #require(initiated.json["upload_url"]?.stringValue)
                let signed = try await client.sendBytes(.put, try #require(pathOf(uploadURL)), big, headers: [.contentType: "application/octet-stream"])
                #expect(signed.status == .contentTooLarge)

                let created = try await client.sendBytes(.post, "/files/upload/multipart", Data(), headers: auth)
                let access = try #require(created.json["access_url"]?.stringValue)
                let id = try #require(created.json["uploadId"]?.stringValue)
                let part = try await client.sendBytes(.put, try #require(pathOf(access)) + "/multipart/\(id)/1", big, headers: auth)
                #expect(part.status == .contentTooLarge)

                let staging = URL(fileURLWithPath: host.configuration.dataDirectory).appendingPathComponent("uploads")
                #expect(try FileManager.default.contentsOfDirectory(atPath: staging.appendingPathComponent("incoming").path).isEmpty)
                #expect(try FileManager.default.contentsOfDirectory(atPath: staging.appendingPathComponent("multipart/\(id)").path) == ["manifest.json"])
            }
        }
    }
}
