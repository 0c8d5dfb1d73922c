import Foundation
import GantryCore
@testable import GantryServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// A runner written against the raw protocol (plain HTTP and JSON, no SDK) serving a function to fal-style clients
/// over a real socket: the proof that any language can be a runner.
@Suite("Runners over HTTP (raw protocol)")
struct RunnerLiveTests {
    static let auth: HTTPFields = [.authorization: "Bearer gpu1:s3cret-runner"]
    static var options: HostOptions {
        HostOptions(store: .sqlite, configure: { configuration in
            configuration.runnerTokens = [RunnerToken(id: "gpu1", secret: "s3cret-runner", globs: ["acme/*"])]
        })
    }
    static let declaration = #"""
        {"instance": "raw-1", "sdk": "swift-test", "functions": [{"id": "acme/upper", "concurrency": 4, "timeout_seconds": 30,
         "input_schema": {"type": "object", "properties": {"text": {"type": "string"}, "steps": {"type": "integer", "default": 0}},
                          "required": ["text"]},
         "output_schema": {"type": "object"}}]}
        """#

    /// One runner loop: claims with a long poll, reports events, answers with the upper-cased text.
    private static func serve(_ client: some TestClientProtocol, jobs: Int) async throws {
        var done = 0
        while done < jobs {
            let claimed = try await client.send(.post, "/runners/v1/claim", json: #"{"instance":"raw-1","functions":["acme/upper"],"max":4,"wait_seconds":10}"#,
                                                headers: auth)
            try #require(claimed.status == .ok, "claim: \(claimed.text)")
            for job in claimed.json["jobs"]?.arrayValue ?? [] {
                let id = try #require(job["request_id"]?.stringValue)
                let lease = try #require(job["lease_token"]?.stringValue)
                let input = try #require(job["input"])
                let steps = Int(input["steps"]?.doubleValue ?? 0)
                for step in 0..<steps {
                    let event = JSONValue.object(["lease_token": .string(lease), "logs": .array([.object(["message": .string("step \(step + 1)")])]),
                                                  "progress": .number(Double(step + 1) / Double(steps)), "partial": .array([.object(["step": .number(Double(step + 1))])])])
                    let reply = try await client.send(.post, "/runners/v1/requests/\(id)/events", json: String(decoding: event.encoded(), as: UTF8.self), headers: auth)
                    #expect(reply.status == .ok, "events: \(reply.text)")
                }
                let text = input["text"]?.stringValue ?? ""
                let result = JSONValue.object(["lease_token": .string(lease), "output": .object(["text": .string(text.uppercased()),
                                                                                             "attempt": job["attempt"] ?? .null])])
                let posted = try await client.send(.post, "/runners/v1/requests/\(id)/result", json: String(decoding: result.encoded(), as: UTF8.self), headers: auth)
                #expect(posted.status == .ok && posted.json["state"] == .string("succeeded"), "result: \(posted.text)")
                done += 1
            }
        }
    }

    @Test func queueRunAndStreamThroughARawRunner() async throws {
        try await withHost(Self.options) { host in
            try await host.application.test(.live) { client in
                let registered = try await client.send(.post, "/runners/v1/register", json: Self.declaration, headers: Self.auth)
                try #require(registered.status == .ok, "\(registered.text)")
                #expect(registered.json["runner_id"] == .string("gpu1") && registered.json["lease_seconds"] == .number(10))
                // Validated against the declared schema, listed in OpenAPI and /functions.
                let bad = try await client.send(.post, "/queue/acme/upper", json: #"{"steps": 1}"#)
                #expect(bad.status == .unprocessableContent && bad.json["detail"]?.arrayValue?.first?["loc"] == .array(["body", "text"]))
                #expect(try await client.send(.get, "/openapi.json").json["paths"]?["/queue/acme/upper"] != nil)
                let listed = try await client.send(.get, "/functions").json["functions"]?.arrayValue ?? []
                #expect(listed.contains { $0["id"] == .string("acme/upper") && $0["kind"] == .string("runner") && $0["runners"] == .number(1) })

                let port = try #require(client.port)
                async let runner: Void = Connection.with(port: port) { connection in try await Self.serve(connection, jobs: 3) }
                let submitted = try await client.submit("acme/upper", #"{"text":"hello","steps":2}"#)
                let done = try await client.waitForStatus(submitted["status_url"], "COMPLETED", query: "?logs=1")
                #expect(done.json["logs"]?.arrayValue?.compactMap { $0["message"]?.stringValue } == ["step 1", "step 2"])
                let result = try await client.send(.get, pathOf(submitted["response_url"]!.stringValue!)!)
                #expect(result.json == .object(["text": "HELLO", "attempt": 1]))

                let run = try await client.send(.post, "/acme/upper", json: #"{"text":"sync"}"#)
                #expect(run.status == .ok && run.json["text"] == "SYNC")

                let streamed = try await client.send(.post, "/acme/upper/stream", json: #"{"text":"streamed","steps":3}"#,
                                                     headers: [.accept: "text/event-stream"])
                #expect(streamed.headers[.contentType] == "text/event-stream")
                let events = streamed.text.split(separator: "\n\n").map { try? JSONValue.parse(Data($0.dropFirst(6).utf8)) }
                #expect(events == [.object(["step": 1]), .object(["step": 2]), .object(["step": 3]), .object(["text": "STREAMED", "attempt": 1])])
                try await runner

                let runners = try await client.send(.get, "/runners/v1/runners", headers: Self.auth).json["runners"]?.arrayValue ?? []
                #expect(runners.first?["instance"] == .string("raw-1") && runners.first?["connected"] == .bool(true))
                #expect(runners.first?["sdk"] == .string("swift-test") && runners.first?["capacity"] == .number(4))
            }
        }
    }

    @Test func tokensAndFences() async throws {
        var options = Self.options
        let configure = options.configure
        options.configure = { configuration in
            configure(&configuration)
            // A long lease allows a long heartbeat wait: an answer well before it can only be the cancel's doing.
            configuration.dispatcher.leaseDuration = 180
        }
        try await withHost(options) { host in
            try await host.application.test(.live) { client in
                let none = try await client.send(.post, "/runners/v1/register", json: Self.declaration)
                #expect(none.status == .unauthorized && none.json["error_type"] == .string("unauthorized"))
                let wrong = try await client.send(.post, "/runners/v1/claim", json: "{}", headers: [.authorization: "Bearer gpu1:nope"])
                #expect(wrong.status == .unauthorized)
                // An API key is no runner token (and a runner token no API key).
                let other = Self.declaration.replacingOccurrences(of: "acme/upper", with: "other/upper")
                let forbidden = try await client.send(.post, "/runners/v1/register", json: other, headers: Self.auth)
                #expect(forbidden.status == .forbidden && forbidden.json["error_type"] == .string("forbidden"))
                #expect(try await client.send(.post, "/runners/v1/register", json: Self.declaration, headers: Self.auth).status == .ok)

                // While no job is claimed a made-up lease is refused; a real one fences results to its attempt.
                let submitted = try await client.submit("acme/upper", #"{"text":"x"}"#)
                let id = try #require(submitted["request_id"]?.stringValue)
                let made = try await client.send(.post, "/runners/v1/requests/\(id)/result", json: #"{"lease_token":"1:raw-1","output":{}}"#, headers: Self.auth)
                #expect(made.status == .conflict && made.json["error_type"] == .string("lease_lost"))
                let claimed = try await client.send(.post, "/runners/v1/claim", json: #"{"instance":"raw-1","functions":["acme/upper"],"max":1}"#, headers: Self.auth)
                let lease = try #require(claimed.json["jobs"]?.arrayValue?.first?["lease_token"]?.stringValue)
                let foreign = try await client.send(.post, "/runners/v1/requests/\(id)/result", json: #"{"lease_token":"1:raw-2","output":{}}"#, headers: Self.auth)
                #expect(foreign.status == .conflict)
                let malformed = try await client.send(.post, "/runners/v1/requests/\(id)/result", json: #"{"lease_token":"nope","output":{}}"#, headers: Self.auth)
                #expect(malformed.status == .unprocessableContent)

                // A cancel reaches the runner's waiting heartbeat at once.
                let heartbeat = #"{"instance":"raw-1","in_flight":[{"request_id":"\#(id)","lease_token":"\#(lease)"}],"wait_seconds":50}"#
                let port = try #require(client.port)
                async let beat = Connection.with(port: port) { connection in
                    try await connection.send(.post, "/runners/v1/heartbeat", json: heartbeat, headers: Self.auth)
                }
                try await Task.sleep(for: .milliseconds(200))
                let started = ContinuousClock.now
                #expect(try await client.send(.put, pathOf(submitted["cancel_url"]!.stringValue!)!).status == .accepted)
                let answered = try await beat
                #expect(answered.json["cancel"] == .array([.string(id)]))
                #expect(ContinuousClock.now - started < .seconds(25))
                let cancelled = try await client.send(.post, "/runners/v1/requests/\(id)/failure",
                                                      json: #"{"lease_token":"\#(lease)","error":{"message":"stopped","error_type":"request_cancelled"}}"#,
                                                      headers: Self.auth)
                #expect(cancelled.json["state"] == .string("cancelled"))
                let status = try await client.send(.get, pathOf(submitted["status_url"]!.stringValue!)!)
                #expect(status.json["status"] == .string("COMPLETED") && status.json["error_type"] == .string("request_cancelled"))
            }
        }
    }

    /// A registration outlives the host: after a restart, before any runner is back, submissions are validated
    /// against the declared schema and wait, saying in their logs that they wait for a runner.
    @Test func registrationSurvivesARestartAndRequestsWaitForARunner() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gantry-runner-restart-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var options = Self.options
        let configure = options.configure
        options.configure = { configuration in
            configure(&configuration)
            configuration.dataDirectory = directory.path
        }
        try await withHost(options) { host in
            try await host.application.test(.live) { client in
                let registered = try await client.send(.post, "/runners/v1/register", json: Self.declaration, headers: Self.auth)
                #expect(registered.status == .ok)
            }
        }
        try await withHost(options) { host in
            try await host.application.test(.live) { client in
                let bad = try await client.send(.post, "/queue/acme/upper", json: #"{"steps":"many"}"#)
                #expect(bad.status == .unprocessableContent)
                let submitted = try await client.submit("acme/upper", #"{"text":"x"}"#)
                let status = try await client.send(.get, pathOf(submitted["status_url"]!.stringValue!)! + "?logs=1")
                #expect(status.json["status"] == .string("IN_QUEUE"))
                #expect(status.json["logs"]?.arrayValue?.first?["message"] == .string("waiting for a runner: none serving acme/upper is connected"))
                let listed = try await client.send(.get, "/functions").json["functions"]?.arrayValue ?? []
                #expect(listed.contains { $0["id"] == .string("acme/upper") && $0["runners"] == .number(0) && $0["queued"] == .number(1) })
                // A synchronous run waits for a runner only as long as X-Fal-Request-Timeout allows.
                let run = try await client.send(.post, "/acme/upper", json: #"{"text":"x"}"#, headers: [.falRequestTimeout: "0.3"])
                #expect(run.status == .gatewayTimeout && run.json["error_type"] == .string("request_timeout"))
            }
        }
    }

    /// The in-process echo streams its partial outputs the same way.
    @Test func inProcessFunctionsStreamToo() async throws {
        try await withHost(HostOptions(store: .sqlite)) { host in
            try await host.application.test(.live) { client in
                let streamed = try await client.send(.post, "/gantry/echo/stream", json: #"{"partials":2,"delay_ms":40,"n":1}"#)
                let events = streamed.text.split(separator: "\n\n").map { try? JSONValue.parse(Data($0.dropFirst(6).utf8)) }
                #expect(events.count == 3)
                #expect(events.prefix(2) == [.object(["partial": 1]), .object(["partial": 2])])
                #expect(events.last??["n"] == .number(1))
                let failing = try await client.send(.post, "/gantry/echo/stream", json: #"{"fail_with":"nope"}"#)
                #expect(failing.text == #"data: {"detail":"nope","error_type":"function_error"}"# + "\n\n")
                let invalid = try await client.send(.post, "/gantry/echo/stream", json: #"{"delay_ms":-1}"#)
                #expect(invalid.status == .unprocessableContent)
            }
        }
    }
}
