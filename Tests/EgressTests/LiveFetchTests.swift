import Foundation
import Testing
@testable import Egress

/// End-to-end transfers against ``LoopbackServer`` on 127.0.0.1. Only that address
/// is ever contacted; refused targets (metadata, unlisted loopback) fail before
/// any connection.
@Suite(.timeLimit(.minutes(1)))
struct LiveFetchTests {
    static let loopbackOnly = EgressPolicy(allowedRanges: [IPRange(cidr: "127.0.0.1/32")!])

    static func client(maxBytes: Int = 1 << 20, totalTimeout: Double = 10) -> EgressClient {
        EgressClient(policy: loopbackOnly, limits: EgressLimits(maxBytes: maxBytes, connectTimeout: 2, totalTimeout: totalTimeout))
    }

    /// Routes shared by the tests below.
    static func makeServer() throws -> LoopbackServer {
        try LoopbackServer { request, connection in
            let path = request.path
            if path == "/ok" {
                connection.write("HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
            } else if path == "/big-declared" {
                // Declares 10 MB but never sends it: only an early refusal finishes fast.
                connection.write("HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n")
                connection.waitForClientClose()
            } else if path == "/chunked-forever" {
                connection.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                let chunk = Array("4000\r\n".utf8) + [UInt8](repeating: 0x41, count: 0x4000) + Array("\r\n".utf8)
                for _ in 0..<256 where connection.write(chunk) {}
            } else if path.hasPrefix("/redirect/"), let left = Int(path.dropFirst("/redirect/".count)) {
                if left == 0 {
                    connection.write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
                } else {
                    // Alternate relative and absolute Locations.
                    let next = left % 2 == 0 ? "/redirect/\(left - 1)" : "http://127.0.0.1:\(request.headers["host"]!.split(separator: ":").last!)/redirect/\(left - 1)"
                    connection.write("HTTP/1.1 302 Found\r\nLocation: \(next)\r\nContent-Length: 0\r\n\r\n")
                }
            } else if path == "/to-metadata" {
                connection.write("HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\n\r\n")
            } else if path == "/trickle" {
                connection.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
                for _ in 0..<100 {
                    guard connection.write("x") else { break }
                    usleep(100_000)
                }
            } else if path == "/echo" {
                let echoed = request.body
                connection.write("HTTP/1.1 201 Created\r\nX-Echo-Method: \(request.method)\r\nX-Echo-Header: \(request.headers["x-test"] ?? "")\r\nContent-Length: \(echoed.count)\r\n\r\n")
                connection.write([UInt8](echoed))
            } else {
                connection.write("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found")
            }
        }
    }

    private func failure(_ operation: () async throws -> some Any) async -> EgressError? {
        do {
            _ = try await operation()
            Issue.record("expected an EgressError")
            return nil
        } catch let error as EgressError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func fetchReturnsBodyAndContentType() async throws {
        let server = try Self.makeServer()
        defer { server.stop() }
        let client = Self.client()
        let resource = try await client.fetch(server.baseURL + "/ok")
        #expect(String(decoding: resource.data, as: UTF8.self) == "hello")
        #expect(resource.contentType == "image/png")
        #expect(resource.finalURL == server.baseURL + "/ok")
        #expect(client.bytesReceived >= 5)
    }

    @Test func declaredLengthOverCapIsRefusedWithoutReadingTheBody() async throws {
        let server = try Self.makeServer()
        defer { server.stop() }
        let start = ContinuousClock.now
        let error = await failure { try await Self.client().fetch(server.baseURL + "/big-declared", maxBytes: 1000) }
        #expect(error?.code == .tooLarge)
        #expect(error?.message.contains("declares 10000000 bytes") == true)
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test func streamedBodyOverCapIsAborted() async throws {
        let server = try Self.makeServer()
        defer { server.stop() }
        let error = await failure { try await Self.client(maxBytes: 64 * 1024).fetch(server.baseURL + "/chunked-forever") }
        #expect(error?.code == .tooLarge)
    }

    @Test func followsThreeRedirectsButNotFour() async throws {
        let server = try Self.makeServer()
        defer { server.stop() }
        let resource = try await Self.client().fetch(server.baseURL + "/redirect/3")
        #expect(String(decoding: resource.data, as: UTF8.self) == "done")
        #expect(resource.finalURL == server.baseURL + "/redirect/0")
        #expect(server.requestsSeen == 4)

        let error = await failure { try await Self.client().fetch(server.baseURL + "/redirect/4") }
        #expect(error?.code == .tooManyRedirects)
        #expect(server.requestsSeen == 8)
    }

    @Test func redirectToMetadataIsRefused() async throws {
        let server = try Self.makeServer()
        defer { server.stop() }
        let error = await failure { try await Self.client().fetch(server.baseURL + "/to-metadata") }
        #expect(error?.code == .forbiddenAddress)
        #expect(error?.message.contains("169.254.169.254") == true)
    }

    @Test func errorStatusIsReported() async throws {
        let server = try Self.makeServer()
        defer { server.stop() }
        let error = await failure { try await Self.client().fetch(server.baseURL + "/missing") }
        #expect(error?.code == .httpStatus)
        #expect(error?.httpStatus == 404)
        #expect(error?.message.contains("404") == true)
    }

    @Test func tricklingServerHitsTheTotalTimeout() async throws {
        let server = try Self.makeServer()
        defer { server.stop() }
        let start = ContinuousClock.now
        let error = await failure { try await Self.client(totalTimeout: 1).fetch(server.baseURL + "/trickle") }
        #expect(error?.code == .timeout)
        #expect(ContinuousClock.now - start < .seconds(4))
    }

    @Test func loopbackIsRefusedWithoutConnectingWhenNotAllowed() async throws {
        let server = try Self.makeServer()
        defer { server.stop() }
        let strict = EgressClient(policy: EgressPolicy(), limits: EgressLimits(totalTimeout: 5))
        for url in [server.baseURL + "/ok", "http://localhost:\(server.port)/ok", "http://2130706433:\(server.port)/ok"] {
            let error = await failure { try await strict.fetch(url) }
            #expect(error?.code == .forbiddenAddress, "\(url)")
        }
        let sendError = await failure {
            try await strict.send(method: "POST", url: server.baseURL + "/echo", headers: [], body: Data("x".utf8), timeout: 2)
        }
        #expect(sendError?.code == .forbiddenAddress)
        #expect(server.acceptedConnections == 0)
    }

    @Test func sendReturnsStatusHeadersAndBody() async throws {
        let server = try Self.makeServer()
        defer { server.stop() }
        let client = Self.client()
        let payload = Data(#"{"ok":true}"#.utf8)
        let reply = try await client.send(
            method: "POST", url: server.baseURL + "/echo",
            headers: [("Content-Type", "application/json"), ("X-Test", "abc")], body: payload, timeout: 5
        )
        #expect(reply.status == 201)
        #expect(reply.header("x-echo-method") == "POST")
        #expect(reply.header("X-ECHO-HEADER") == "abc")
        #expect(reply.body == payload)

        // Redirects come back as they are.
        let redirect = try await client.send(method: "GET", url: server.baseURL + "/redirect/2", headers: [], body: nil, timeout: 5)
        #expect(redirect.status == 302)
        #expect(redirect.header("location") == "/redirect/1")
        let missing = try await client.send(method: "GET", url: server.baseURL + "/missing", headers: [], body: nil, timeout: 5)
        #expect(missing.status == 404)
        #expect(String(decoding: missing.body, as: UTF8.self) == "not found")
    }

    /// A trickling server keeps curl's progress callback busy; a stalled one leaves it
    /// idle, where curl still polls it about once a second.
    @Test(arguments: ["/trickle", "/big-declared"])
    func cancellationAbortsASlowFetch(path: String) async throws {
        let server = try Self.makeServer()
        defer { server.stop() }
        let client = Self.client(maxBytes: 50 << 20, totalTimeout: 30)
        let url = server.baseURL + path
        let task = Task { try await client.fetch(url) }
        #expect(await waitUntil { server.requestsSeen == 1 })
        let start = ContinuousClock.now
        task.cancel()
        let result = await task.result
        #expect(ContinuousClock.now - start < .seconds(3))
        #expect(throws: EgressError.self) { try result.get() }
        if case .failure(let error as EgressError) = result {
            #expect(error.code == .cancelled)
        }
    }

    /// The socket callback refuses whatever was not checked, even if curl were to
    /// resolve or parse a host differently from the gate.
    @Test func socketGuardRefusesUncheckedAddresses() async throws {
        let server = try Self.makeServer()
        defer { server.stop() }
        let url = try EgressURL.parse(server.baseURL + "/ok")
        func request(_ checked: [IPAddress], _ policy: EgressPolicy) -> TransferRequest {
            TransferRequest(
                url: url, checkedAddresses: checked, pinsHostName: false, method: "GET", headers: [], body: nil,
                maxBytes: 1000, connectTimeoutMs: 2000, totalTimeoutMs: 5000, stopAfterNon2xxHeaders: true, policy: policy
            )
        }
        let loopback = IPAddress(ipv4: 0x7f00_0001)
        for (checked, policy) in [([loopback], EgressPolicy()), ([IPAddress(ipv4: 0x0808_0808)], Self.loopbackOnly)] {
            let error = await failure { try await CurlTransfer.perform(request(checked, policy), counter: ByteCounter()) }
            #expect(error?.code == .forbiddenAddress)
        }
        #expect(server.acceptedConnections == 0)
    }

    /// CURLOPT_RESOLVE pins a name to the checked addresses: this name exists in no DNS.
    @Test func pinnedNameConnectsToTheCheckedAddress() async throws {
        let server = try Self.makeServer()
        defer { server.stop() }
        let url = try EgressURL.parse("http://pinned.gantry-test.invalid:\(server.port)/ok")
        let request = TransferRequest(
            url: url, checkedAddresses: [IPAddress(ipv4: 0x7f00_0001)], pinsHostName: true, method: "GET", headers: [],
            body: nil, maxBytes: 1000, connectTimeoutMs: 2000, totalTimeoutMs: 5000, stopAfterNon2xxHeaders: true,
            policy: Self.loopbackOnly
        )
        let outcome = try await CurlTransfer.perform(request, counter: ByteCounter())
        #expect(outcome.status == 200)
        #expect(String(decoding: outcome.body, as: UTF8.self) == "hello")
    }
}
