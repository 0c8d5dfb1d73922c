import Foundation
import Synchronization
import Testing
@testable import Egress

/// `EgressClient.stream`: the head first, the body while it is read, and a dropped body stops the transfer.
@Suite(.timeLimit(.minutes(1)))
struct StreamedFetchTests {
    /// Bytes the `/endless` route managed to write before the client went away, and whether it stopped.
    final class Sent: Sendable {
        let bytes = Atomic<Int>(0)
        let stopped = Atomic<Bool>(false)
    }

    static func pattern(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
    }

    static func makeServer(_ sent: Sent) throws -> LoopbackServer {
        try LoopbackServer { request, connection in
            switch request.path {
            case "/large":
                let body = pattern(3 << 20)
                connection.write("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nETag: \"v1\"\r\nContent-Length: \(body.count)\r\n\r\n")
                connection.write(body)
            case "/endless":
                connection.write("HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
                let chunk = [UInt8](repeating: 0x42, count: 64 << 10)
                while connection.write(chunk) { sent.bytes.add(chunk.count, ordering: .relaxed) }
                sent.stopped.store(true, ordering: .relaxed)
            case "/cut":
                connection.write("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                connection.write([UInt8](repeating: 1, count: 1_000))
            default:
                connection.write("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found")
            }
        }
    }

    static func client() -> EgressClient {
        EgressClient(policy: LiveFetchTests.loopbackOnly, limits: EgressLimits(maxBytes: 2 << 30, connectTimeout: 2, totalTimeout: 10))
    }

    @Test func headThenTheWholeBodyInChunks() async throws {
        let server = try Self.makeServer(Sent())
        defer { server.stop() }
        let reply = try await Self.client().stream(method: "GET", url: server.baseURL + "/large", headers: [], timeout: 10)
        #expect(reply.status == 200 && reply.header("etag") == "\"v1\"" && reply.header("content-length") == "\(3 << 20)")
        var received = Data(), chunks = 0
        for try await chunk in reply.body {
            received.append(chunk)
            chunks += 1
        }
        let same = received == Data(Self.pattern(3 << 20))
        #expect(same && chunks > 1, "\(received.count) bytes in \(chunks) chunks")

        let missing = try await Self.client().stream(method: "GET", url: server.baseURL + "/nothing", headers: [], timeout: 10)
        #expect(missing.status == 404)
        #expect(String(decoding: try await missing.body.collect(limit: 100), as: UTF8.self) == "not found")
    }

    /// The transfer runs ahead of a reader by a bounded amount, and a body dropped after one chunk closes the
    /// connection: the server's writes fail and it stops, having sent a small part of the gigabyte it declared.
    @Test func aDroppedBodyStopsTheTransfer() async throws {
        let sent = Sent()
        let server = try Self.makeServer(sent)
        defer { server.stop() }
        do {
            let reply = try await Self.client().stream(method: "GET", url: server.baseURL + "/endless", headers: [], timeout: 30)
            var iterator = reply.body.makeAsyncIterator()
            _ = try await iterator.next()
            // Nobody reads: curl's thread waits, so the server is held back by the socket buffers. Given two seconds
            // (an unbounded reader would take the whole gigabyte in one), it neither passes 64 MiB nor finishes.
            let ranAway = await waitUntil(seconds: 2) {
                sent.bytes.load(ordering: .relaxed) > 64 << 20 || sent.stopped.load(ordering: .relaxed)
            }
            #expect(!ranAway, "\(sent.bytes.load(ordering: .relaxed)) bytes sent while nobody read")
        }
        #expect(await waitUntil { sent.stopped.load(ordering: .relaxed) })
        let total = sent.bytes.load(ordering: .relaxed)
        #expect(total < 64 << 20)
    }

    /// A body that ends before its declared length fails the read instead of ending quietly.
    @Test func aCutBodyThrows() async throws {
        let server = try Self.makeServer(Sent())
        defer { server.stop() }
        let reply = try await Self.client().stream(method: "GET", url: server.baseURL + "/cut", headers: [], timeout: 10)
        #expect(reply.status == 200)
        await #expect(throws: EgressError.self) {
            for try await _ in reply.body {}
        }
    }

    /// Refused before any connection, like every other egress call.
    @Test func refusedAddressesFailBeforeTheHead() async throws {
        let client = EgressClient(policy: EgressPolicy(allowedRanges: []), limits: EgressLimits(maxBytes: 1 << 20, connectTimeout: 2, totalTimeout: 5))
        await #expect(throws: EgressError.self) {
            _ = try await client.stream(method: "GET", url: "http://127.0.0.1:9/x", headers: [], timeout: 5)
        }
    }
}
