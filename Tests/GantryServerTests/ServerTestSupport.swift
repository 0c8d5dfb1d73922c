import BuiltinFunctions
import Foundation
import Fooocus
import GantryCore
@testable import GantryServer
import HTTPTypes
import Hummingbird
@testable import HummingbirdTesting
import Imaging
import Logging
import Testing

/// The repository root, found from this file's path (Tests/GantryServerTests/…).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Polls `condition` until it holds or `timeout` passes; true when it held.
@discardableResult
func eventually(timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}

/// How a test host is set up.
struct HostOptions {
    var store: ServerConfiguration.StoreKind = .memory
    /// When set, the host serves only `gantry/echo` (the real schema) with this concurrency.
    var echoConcurrency: Int?
    var apiKeys: [String] = []
    var tls: (certificate: String, key: String)?
    /// `--allow-egress` ranges (a loopback webhook receiver needs 127.0.0.1/32).
    var allowEgress: [String] = []
    var webhooks = WebhookPolicy(initialDelay: 0.05, pollInterval: 0.02)
    /// Last adjustments to the configuration (upload limits, TTLs).
    var configure: (inout ServerConfiguration) -> Void = { _ in }
}

/// Builds a host with the real composition seam: port 0, a temporary data directory, the repository's functions and
/// schemas, the built-in handlers and short dispatcher intervals; removes the directory afterwards.
func withHost<T>(_ options: HostOptions = HostOptions(), _ body: (GantryServer.Host) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gantry-server-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    var configuration = ServerConfiguration()
    configuration.port = 0
    configuration.store = options.store
    configuration.dataDirectory = directory.appendingPathComponent("data").path
    configuration.functionsDirectory = repositoryRoot.appendingPathComponent("functions").path
    configuration.schemasDirectory = repositoryRoot.appendingPathComponent("schemas").path
    if let concurrency = options.echoConcurrency {
        let functions = directory.appendingPathComponent("functions")
        try FileManager.default.createDirectory(at: functions, withIntermediateDirectories: true)
        let manifest = #"{"id":"gantry/echo","handler":"gantry.echo","input_schema":"gantry/echo.input.json","output_schema":"gantry/echo.output.json","concurrency":\#(concurrency),"timeout_seconds":60,"max_attempts":3}"#
        try Data(manifest.utf8).write(to: functions.appendingPathComponent("echo.json"))
        configuration.functionsDirectory = functions.path
    }
    configuration.apiKeys = options.apiKeys.map(APIKey.init(token:))
    configuration.tlsCertificatePath = options.tls?.certificate
    configuration.tlsKeyPath = options.tls?.key
    configuration.allowEgress = options.allowEgress
    configuration.webhooks = options.webhooks
    configuration.dispatcher = DispatcherConfiguration(
        leaseDuration: 10, heartbeatInterval: 0.1, pollInterval: 0.05, shutdownGrace: 0, sweepInterval: 0.05)
    options.configure(&configuration)
    var logger = Logger(label: "gantry-server-tests")
    logger.logLevel = .critical
    let handlers = BuiltinFunctions.handlers.merging(FooocusFunctions.handlers()) { builtin, _ in builtin }
    let host = try await buildApplication(configuration: configuration, handlers: handlers, logger: logger)
    return try await body(host)
}

/// The ids of the host's running requests, of every function.
func runningIDs(_ host: GantryServer.Host) async throws -> [String] {
    try await host.store.requestListRunning(functionIDs: host.queue.functions.map(\.id)).map(\.id)
}

/// A parsed response: status, headers, raw body and the body as JSON when it is JSON.
struct Reply {
    let response: TestResponse
    var status: HTTPResponse.Status { response.status }
    var headers: HTTPFields { response.headers }
    var bytes: Data { Data(response.body.readableBytesView) }
    var text: String { String(decoding: bytes, as: UTF8.self) }
    var json: JSONValue { (try? JSONValue.parse(bytes)) ?? .null }
    func header(_ name: String) -> String? { headers[HTTPField.Name(name)!] }
}

extension TestClientProtocol {
    /// Sends a request, with a JSON content type when there is a body.
    func send(_ method: HTTPRequest.Method, _ uri: String, json body: String? = nil, headers: HTTPFields = [:]) async throws -> Reply {
        var fields = headers
        if body != nil, fields[.contentType] == nil { fields[.contentType] = "application/json" }
        let response = try await executeRequest(uri: uri, method: method, headers: fields, body: body.map { ByteBuffer(string: $0) })
        return Reply(response: response)
    }

    /// Submits to the queue and returns the submit reply's JSON, failing the test unless it is a 200.
    func submit(_ app: String, _ body: String = "{}", headers: HTTPFields = [:]) async throws -> JSONValue {
        let reply = try await send(.post, "/queue/\(app)", json: body, headers: headers)
        try #require(reply.status == .ok, "submit answered \(reply.status): \(reply.text)")
        return reply.json
    }

    /// Polls a status URL until its `status` is `wanted`, and returns that reply.
    func waitForStatus(
        _ url: JSONValue?, _ wanted: String, query: String = "", headers: HTTPFields = [:], timeout: Duration = .seconds(15)
    ) async throws -> Reply {
        let path = try #require(url?.stringValue.flatMap(pathOf)) + query
        var last: Reply?
        let reached = try await eventually(timeout: timeout) {
            last = try await send(.get, path, headers: headers)
            return last?.json["status"]?.stringValue == wanted
        }
        try #require(reached, "status stayed \(last?.text ?? "unknown"), expected \(wanted)")
        return try #require(last)
    }
}

/// The path (and query) of an absolute URL the host handed out.
func pathOf(_ url: String) -> String? {
    guard let components = URLComponents(string: url) else { return nil }
    return components.percentEncodedPath + (components.percentEncodedQuery.map { "?\($0)" } ?? "")
}

/// A 2×2 PNG as a data URI, made with the Imaging codecs.
func pngDataURI() throws -> String {
    let png = try ImageCodec.encode(Image(width: 2, height: 2, channels: 3, fill: 200), as: .png)
    return "data:image/png;base64,\(png.base64EncodedString())"
}

/// Lets tests write JSON values as literals: `["body", "text"]`, `.object(["n": 1])`.
extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
}

/// A second connection to a live server: requests on one HTTP/1.1 connection are answered in order, so a long
/// poll (a runner's claim or heartbeat) needs a connection of its own.
struct Connection: TestClientProtocol {
    let client: TestClient

    func executeRequest(uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?) async throws -> TestResponse {
        var headers = headers
        headers[.connection] = "keep-alive"
        let response = try await client.execute(TestClient.Request(uri, method: method, authority: "localhost", headers: headers, body: body))
        return TestResponse(head: response.head, body: response.body ?? ByteBuffer(), trailerHeaders: response.trailerHeaders)
    }

    var port: Int? { client.port }

    /// Runs `body` with a new connection to `port`, closed afterwards.
    static func with<T: Sendable>(port: Int, _ body: @escaping @Sendable (Connection) async throws -> T) async throws -> T {
        try await TestClient.withClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(60))) { client in
            try await body(Connection(client: client))
        }
    }
}
