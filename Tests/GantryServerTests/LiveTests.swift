import Foundation
import GantryCore
@testable import GantryServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The `openssl` binary, if the machine has one.
private let openssl: String? = ["/usr/bin/openssl", "/usr/local/bin/openssl", "/opt/homebrew/bin/openssl"]
    .first { FileManager.default.isExecutableFile(atPath: $0) }

/// Makes a self-signed certificate for localhost/127.0.0.1 in `directory`; returns (certificate, key) paths.
private func makeCertificate(in directory: URL) throws -> (certificate: String, key: String) {
    let certificate = directory.appendingPathComponent("cert.pem").path
    let key = directory.appendingPathComponent("key.pem").path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try #require(openssl))
    process.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-days", "1",
                         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    try #require(process.terminationStatus == 0, "openssl failed")
    return (certificate, key)
}

/// Splits an SSE body into events; each event is its list of lines.
private func events(_ body: String) -> [[Substring]] {
    body.split(separator: "\n\n", omittingEmptySubsequences: true).map { $0.split(separator: "\n") }
}

@Suite("Live server (SQLite, loopback)")
struct LiveTests {
    /// Submit, poll and fetch the result over a real socket, following the URLs the server handed out.
    @Test func roundTrip() async throws {
        try await withHost(HostOptions(store: .sqlite)) { host in
            try await host.application.test(.live) { client in
                let port = try #require(client.port)
                let submitted = try await client.submit("gantry/echo", #"{"logs":["hello"],"delay_ms":20,"n":7}"#)
                let statusURL = try #require(submitted["status_url"]?.stringValue)
                #expect(statusURL.hasPrefix("http://127.0.0.1:\(port)/queue/gantry/echo/requests/"))
                let done = try await client.waitForStatus(submitted["status_url"], "COMPLETED", query: "?logs=1")
                #expect(done.status == .ok)
                #expect(done.json["logs"]?.arrayValue?.first?["message"] == .string("hello"))
                let result = try await client.send(.get, pathOf(submitted["response_url"]!.stringValue!)!)
                #expect(result.status == .ok)
                #expect(result.json["n"] == .number(7))
                #expect(result.header("x-fal-request-id") == submitted["request_id"]?.stringValue)
                let stored = try await host.store.requestGet(id: submitted["request_id"]!.stringValue!)
                #expect(stored?.state == .succeeded)
                let run = try await client.send(.post, "/gantry/echo", json: #"{"n":8}"#)
                #expect(run.json["n"] == .number(8))
            }
        }
    }

    /// The status stream sends data-only events (no `id:`), each a status object, and closes after COMPLETED.
    @Test func statusStream() async throws {
        try await withHost(HostOptions(store: .sqlite)) { host in
            try await host.application.test(.live) { client in
                // Long enough that the stream connects while it runs, even on a loaded machine (a run now starts at submit).
                let submitted = try await client.submit("gantry/echo", #"{"delay_ms":1500,"logs":["a","b","c"],"progress":3}"#)
                let statusPath = try #require(pathOf(submitted["status_url"]!.stringValue!))
                let reply = try await client.send(.get, statusPath + "/stream?logs=1", headers: [.accept: "text/event-stream"])
                #expect(reply.status == .ok)
                #expect(reply.headers[.contentType] == "text/event-stream")
                #expect(reply.header("x-fal-request-id") == submitted["request_id"]?.stringValue)
                let received = events(reply.text)
                try #require(!received.isEmpty)
                var statuses: [JSONValue] = []
                for event in received {
                    #expect(event.count == 1, "one data line per event: \(event)")
                    let line = try #require(event.first)
                    try #require(line.hasPrefix("data: "), "not a data line: \(line)")
                    statuses.append(try JSONValue.parse(Data(line.dropFirst(6).utf8)))
                }
                let names = statuses.compactMap { $0["status"]?.stringValue }
                #expect(names.count >= 2, "\(names)")
                #expect(names.last == "COMPLETED")
                #expect(names.dropLast().allSatisfy { $0 != "COMPLETED" })
                #expect(statuses.last?["logs"]?.arrayValue?.count == 3)
                #expect(statuses.allSatisfy { $0["request_id"] == submitted["request_id"] })
                // Once completed, a new stream sends the final status at once and closes.
                let again = try await client.send(.get, statusPath + "/stream")
                #expect(events(again.text).count == 1)
            }
        }
    }

    /// The same round trip over TLS with a self-signed certificate; the URLs handed out are https.
    @Test(.enabled(if: openssl != nil, "openssl is not installed; skipping the TLS test"))
    func tlsRoundTrip() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gantry-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let tls = try makeCertificate(in: directory)
        try await withHost(HostOptions(store: .sqlite, tls: tls)) { host in
            try await host.application.test(.ahc(.https)) { client in
                let submitted = try await client.submit("gantry/echo", #"{"secure":true}"#)
                #expect(submitted["status_url"]?.stringValue?.hasPrefix("https://127.0.0.1:") == true)
                _ = try await client.waitForStatus(submitted["status_url"], "COMPLETED")
                let result = try await client.send(.get, pathOf(submitted["response_url"]!.stringValue!)!)
                #expect(result.json["secure"] == .bool(true))
            }
        }
    }
}
