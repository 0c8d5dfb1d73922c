import Foundation
import GantryCore
@testable import GantryServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Imaging
import Logging
import NIOHTTP1
import Synchronization
import Testing

/// The edge's pieces on their own: log escaping, connection limits, the per-address counter, bounded conversions,
/// parse-error answers and 405s.
@Suite("Edge hardening (unit and router)")
struct EdgeUnitTests {
    @Test func logLinesEscapeEverythingThatCouldForgeOrRestyleALine() {
        #expect(LineLogHandler.escape("plain text, ünïcode ✓") == "plain text, ünïcode ✓")
        #expect(LineLogHandler.escape("a\nb\rc\td") == "a\\nb\\rc\\td")
        #expect(LineLogHandler.escape("\u{1b}[31mred\u{7f}\u{85}\u{2028}") == "\\u{1b}[31mred\\u{7f}\\u{85}\\u{2028}")
        #expect(LineLogHandler.escape("a\\nb") == "a\\\\nb")  // a literal backslash-n is not an escaped newline
        #expect(LineLogHandler.quoted("abc-123") == "abc-123")
        #expect(LineLogHandler.quoted("x y=z [S]") == "\"x y=z [S]\"" && LineLogHandler.quoted("say \"hi\"") == "\"say \\\"hi\\\"\"")

        let lines = Mutex<[String]>([])
        var logger = Logger(label: "test") { label in LineLogHandler(label: label) { line in lines.withLock { $0.append(line) } } }
        logger.logLevel = .info
        logger.info("fetch failed\n2026-01-01T00:00:00+0000 critical gantry: forged", metadata: ["url": "http://x/\r\nEvil: 1"])
        let written = lines.withLock { $0 }
        #expect(written.count == 1)
        #expect(written[0].filter { $0 == "\n" || $0 == "\r\n" }.count == 1 && written[0].hasSuffix("\n"))
        #expect(written[0].contains("url=\"http://x/\\r\\nEvil: 1\"") && written[0].contains("failed\\n2026-01-01"))
    }

    @Test func connectionLimitsAreValidatedAndFitTheDescriptorLimit() throws {
        var limits = ConnectionLimits()
        try limits.validate()
        #expect(limits.effectiveMaxConnections(descriptorLimit: 1_048_576) == 4_096)
        #expect(limits.effectiveMaxConnections(descriptorLimit: 256) == 192)  // a quarter-ish kept for the rest
        #expect(limits.effectiveMaxConnections(descriptorLimit: 8_192) == 4_096)
        limits.headerTimeout = 0
        #expect(throws: ConfigurationError.self) { try limits.validate() }
        limits = ConnectionLimits()
        limits.maxConnectionsPerClient = -1
        #expect(throws: ConfigurationError.self) { try limits.validate() }
    }

    @Test func perAddressCounterRefusesPastItsLimitAndForgets() {
        let counter = ClientAddressCounter(limit: 2)
        #expect(counter.open("10.0.0.1") && counter.open("10.0.0.1"))
        #expect(!counter.open("10.0.0.1"))
        #expect(counter.open("10.0.0.2"))
        #expect(counter.total == 3)
        counter.close("10.0.0.1")
        #expect(counter.open("10.0.0.1"))
        let unlimited = ClientAddressCounter(limit: 0)
        #expect((0..<1_000).allSatisfy { _ in unlimited.open("127.0.0.1") })
    }

    @Test func parseErrorsMapToTheEnvelope() throws {
        let overflow = try #require(MalformedRequest(HTTPParserError.headerOverflow))
        #expect(overflow.status == 431 && overflow.envelope.errorType == "request_header_fields_too_large")
        let chunk = try #require(MalformedRequest(HTTPParserError.invalidChunkSize))
        #expect(chunk.status == 400 && chunk.envelope.message.contains("chunk size"))
        #expect(MalformedRequest(CancellationError()) == nil)
    }

    @Test func conversionsAreSharedCachedAndBounded() async throws {
        let png = try ImageCodec.encode(Image(width: 64, height: 48, channels: 3, fill: 90), as: .png)
        let file = StoredFile(data: png, contentType: "image/png", etag: "\"f1\"", modified: Date())
        let conversions = FileConversions()
        let results = await withTaskGroup(of: FileConversions.Outcome.self) { group in
            for _ in 0..<8 { group.addTask { await conversions.convert(file, to: .webp) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let converted = results.compactMap { if case .converted(let file) = $0 { file } else { nil } }
        #expect(converted.count == 8 && Set(converted.map(\.data)).count == 1)
        #expect(converted[0].contentType == "image/webp" && converted[0].etag == "\"f1-webp\"")

        // Already in the format, not an image, or above the pixel limit: served as stored.
        if case .asStored = await conversions.convert(file, to: .png) {} else { Issue.record("same format converted") }
        let text = StoredFile(data: Data("hi".utf8), contentType: "text/plain", etag: "\"t\"", modified: Date())
        if case .asStored = await conversions.convert(text, to: .png) {} else { Issue.record("text converted") }
        var small = FileConversions.Limits()
        small.maxPixels = 64 * 47
        if case .asStored = await FileConversions(limits: small).convert(file, to: .jpeg) {} else { Issue.record("over the pixel limit converted") }
    }

    @Test func unknownMethodsAre405WithAllow() async throws {
        try await withHost { host in
            try await host.application.test(.router) { client in
                let trace = try await client.send(HTTPRequest.Method("TRACE")!, "/health")
                #expect(trace.status == .methodNotAllowed && trace.headers[.allow] == "GET, HEAD")
                #expect(trace.json["error_type"] == .string("method_not_allowed"))
                let patch = try await client.send(.patch, "/queue/gantry/echo")
                #expect(patch.status == .methodNotAllowed && patch.headers[.allow] == "GET, HEAD, POST, PUT")
                #expect(try await client.send(.head, "/health").status == .ok)
            }
        }
    }
}
