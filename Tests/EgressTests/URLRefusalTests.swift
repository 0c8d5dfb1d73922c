import Foundation
import Testing
@testable import Egress

/// URLs refused before any connection is attempted. None of these touch the
/// network: schemes and credentials fail at parse time, literals at the policy,
/// and the few names used resolve locally (localhost) or fail at once (.invalid).
struct URLRefusalTests {
    static let client = EgressClient(policy: EgressPolicy(), limits: EgressLimits(totalTimeout: 5))

    @Test(arguments: [
        ("file:///etc/passwd", EgressError.Code.forbiddenScheme),
        ("gopher://127.0.0.1:6379/_", .forbiddenScheme),
        ("ftp://x", .forbiddenScheme),
        ("dict://x", .forbiddenScheme),
        ("ldap://x/", .forbiddenScheme),
        ("FILE:///etc/passwd", .forbiddenScheme),
        ("javascript:alert(1)", .forbiddenScheme),
        ("http://user:pw@example.com/", .credentialsInURL),
        ("http://user@example.com/", .credentialsInURL),
        ("https://:pw@example.com/", .credentialsInURL),
        ("http://127.0.0.1/", .forbiddenAddress),
        ("http://[::1]/", .forbiddenAddress),
        ("http://2130706433/", .forbiddenAddress),
        ("http://0x7f000001/", .forbiddenAddress),
        ("http://0177.0.0.1/", .forbiddenAddress),
        ("http://127.1/", .forbiddenAddress),
        ("http://0.0.0.0/", .forbiddenAddress),
        ("http://10.0.0.1/", .forbiddenAddress),
        ("http://172.16.0.1/", .forbiddenAddress),
        ("http://192.168.1.1/", .forbiddenAddress),
        ("http://100.64.0.1/", .forbiddenAddress),
        ("http://100.100.100.200/", .forbiddenAddress),
        ("http://169.254.169.254/latest/meta-data/", .forbiddenAddress),
        ("http://[fd00:ec2::254]/", .forbiddenAddress),
        ("http://[fe80::1%25eth0]/", .forbiddenAddress),
        ("http://[64:ff9b::7f00:1]/", .forbiddenAddress),
        ("http://[2002:7f00:1::]/", .forbiddenAddress),
        ("http://[::ffff:127.0.0.1]/", .forbiddenAddress),
        ("https://[::ffff:a9fe:a9fe]:8443/x", .forbiddenAddress),
        ("http://localhost/", .forbiddenAddress),
        ("http://metadata.google.internal/computeMetadata/v1/", .forbiddenAddress),
        ("http://nonexistent.invalid/", .dnsFailure),
        ("not a url", .invalidURL),
        ("http://", .invalidURL),
        ("http://exa mple.com/", .invalidURL),
        ("http://example.com:99999/", .invalidURL),
    ])
    func refusesBeforeConnecting(url: String, code: EgressError.Code) async {
        await #expect(throws: EgressError.self) { try await Self.client.fetch(url) }
        do {
            _ = try await Self.client.fetch(url)
        } catch let error as EgressError {
            #expect(error.code == code, "\(url): \(error)")
            #expect(!error.message.isEmpty)
        } catch {
            Issue.record("unexpected error \(error)")
        }
        await #expect(throws: EgressError.self) { try await Self.client.checkURL(url) }
    }

    @Test func refusalMessageNamesTheReason() async throws {
        let error = try await #require(throws: EgressError.self) { try await Self.client.fetch("http://0x7f000001/") }
        #expect(error.message == "loopback address 127.0.0.1 is not allowed")
        #expect(error.description == "forbidden_address: loopback address 127.0.0.1 is not allowed")
    }

    @Test func sendAppliesTheSameGate() async throws {
        let error = try await #require(throws: EgressError.self) {
            try await Self.client.send(method: "POST", url: "http://169.254.169.254/", headers: [], body: Data("x".utf8), timeout: 2)
        }
        #expect(error.code == .forbiddenAddress)
        let injected = try await #require(throws: EgressError.self) {
            try await Self.client.send(method: "POST", url: "http://example.com/", headers: [("X", "a\r\nHost: evil")], body: nil, timeout: 2)
        }
        #expect(injected.code == .invalidRequest)
    }

    @Test func checkURLAcceptsPublicLiteral() async throws {
        try await Self.client.checkURL("https://8.8.8.8/hook")
        try await Self.client.checkURL("https://[2606:4700::1]:8443/hook")
    }

    @Test func relativeRedirectTargetsResolveAgainstTheCurrentURL() throws {
        let base = try EgressURL.parse("http://example.com/a/b?q=1")
        #expect(try EgressURL.parse("/c", relativeTo: base).absolute == "http://example.com/c")
        #expect(try EgressURL.parse("d", relativeTo: base).absolute == "http://example.com/a/d")
        #expect(try EgressURL.parse("//other.example/x", relativeTo: base).host == "other.example")
        #expect(try EgressURL.parse("http://127.1/", relativeTo: base).literalAddress?.description == "127.0.0.1")
        #expect(throws: EgressError.self) { try EgressURL.parse("file:///etc/passwd", relativeTo: base) }
        #expect(["xn--bcher-kva.example", "bücher.example"].contains(try EgressURL.parse("http://bücher.example/").host))
        #expect(try EgressURL.parse("HTTP://Example.COM:8080").port == 8080)
        #expect(try EgressURL.parse("https://example.com").port == 443)
    }
}

/// `data:` URIs are decoded locally and obey the byte cap before decoding.
struct DataURITests {
    @Test func decodesBase64AndPercentForms() throws {
        let png = try DataURI.parse("data:image/png;base64,iVBORw0KGgo=", maxBytes: 100)
        #expect(png.mediaType == "image/png")
        #expect(Array(png.data) == [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
        let unpadded = try DataURI.parse("data:image/png;base64,iVBORw0KGgo", maxBytes: 100)
        #expect(unpadded.data == png.data)
        let text = try DataURI.parse("data:,hello%20world", maxBytes: 100)
        #expect(text.mediaType == "text/plain;charset=US-ASCII")
        #expect(String(decoding: text.data, as: UTF8.self) == "hello world")
        let charset = try DataURI.parse("data:;charset=utf-8,%C3%A9", maxBytes: 100)
        #expect(charset.mediaType == "text/plain;charset=utf-8")
        #expect(String(decoding: charset.data, as: UTF8.self) == "é")
        let upper = try DataURI.parse("DATA:image/gif;BASE64,R0lG", maxBytes: 100)
        #expect(Array(upper.data) == Array("GIF".utf8))
    }

    @Test(arguments: [
        "data:image/png;base64,@@@@", "data:image/png;base64,iVBORw0KGgo==x", "data:image/png;base64,A",
        "data:image/png,%zz", "data:image/png,%4", "data:image/png;base64", "http://example.com/",
    ])
    func rejectsMalformed(uri: String) {
        do {
            _ = try DataURI.parse(uri, maxBytes: 100)
        } catch {
            #expect(error.code == .invalidDataURI, "\(uri)")
        }
    }

    @Test func refusesOversizedPayloadBeforeDecoding() async throws {
        let big = "data:image/png;base64," + String(repeating: "A", count: 4000)
        #expect(throws: Never.self) { try DataURI.parse(big, maxBytes: 3000) }
        do {
            _ = try DataURI.parse(big, maxBytes: 2000)
            Issue.record("expected tooLarge")
        } catch {
            #expect(error.code == .tooLarge)
        }
        // Invalid base64 that is also too large reports the size: decoding never started.
        do {
            _ = try DataURI.parse("data:,"+String(repeating: "x", count: 101), maxBytes: 100)
            Issue.record("expected tooLarge")
        } catch {
            #expect(error.code == .tooLarge)
        }
        let client = EgressClient(policy: EgressPolicy())
        let error = try await #require(throws: EgressError.self) {
            try await client.fetch("data:image/png;base64," + String(repeating: "@", count: 4000), maxBytes: 100)
        }
        #expect(error.code == .tooLarge)
        let fetched = try await client.fetch("data:image/png;base64,iVBORw0KGgo=")
        #expect(fetched.contentType == "image/png")
        #expect(fetched.data.count == 8)
    }
}
