import Foundation
import GantryCore
@testable import GantryS3
import Signing
import Testing

/// The S3 server of this test run, from the variables `scripts/s3-server.sh` writes.
enum S3TestServer {
    static let environment = ProcessInfo.processInfo.environment

    /// Whether a server was started for this run (`scripts/test.sh` always starts one).
    static var configured: Bool { environment["GANTRY_TEST_S3"] != nil }

    static func location(secret: String? = nil) throws -> S3Location {
        try S3Location.parse(environment["GANTRY_TEST_S3"] ?? "", environment: [
            "AWS_ACCESS_KEY_ID": environment["GANTRY_TEST_S3_ACCESS_KEY"] ?? "",
            "AWS_SECRET_ACCESS_KEY": secret ?? environment["GANTRY_TEST_S3_SECRET_KEY"] ?? "",
        ])
    }

    /// A store on the test bucket, once the bucket answers a signed request (a freshly started SeaweedFS makes its
    /// bucket a moment after its gateway answers).
    static func store(partSize: Int = 5 * 1024 * 1024) async throws -> S3FileStore {
        let store = try S3FileStore(location: try location(), maxObjectBytes: 64 * 1024 * 1024, partSize: partSize)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(20)
        while true {
            do {
                try await store.checkReady()
                return store
            } catch where clock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}

@Suite("S3 file store")
struct S3StoreTests {
    @Test("a wrong secret is refused by the server, as an I/O error that names S3's reason", .enabled(if: S3TestServer.configured))
    func wrongSecret() async throws {
        _ = try await S3TestServer.store()  // the bucket is up
        let store = try S3FileStore(location: try S3TestServer.location(secret: "not-the-secret"), maxObjectBytes: 1 << 20)
        let key = FileStoreConformanceTests.key("txt")
        do {
            try await store.put(Data("x".utf8), key: key, contentType: "text/plain")
            Issue.record("a put signed with the wrong secret succeeded")
        } catch let error as FileStoreError {
            #expect(error.code == .io)
            #expect(error.message.contains("SignatureDoesNotMatch") || error.message.contains("403"))
        }
        await #expect(throws: FileStoreError.self) { try await store.checkReady() }
    }

    @Test("keys with every character the host uses, and types other than images, round-trip", .enabled(if: S3TestServer.configured))
    func keysAndTypes() async throws {
        let store = try await S3TestServer.store()
        let key = "2026-12-06/A-b_c.d-\(UUID().uuidString.prefix(8)).tar.json"
        try await store.put(Data("{}".utf8), key: key, contentType: "application/json")
        let file = try #require(try await store.get(key: key))
        #expect(file.contentType == "application/json")
        #expect(file.etag.hasPrefix("\""))
        #expect(abs(file.modified.timeIntervalSinceNow) < 600)
    }

    @Test("XML text: named entities, numeric references (as SeaweedFS quotes ETags), and stray ampersands")
    func xmlText() {
        #expect(XMLText.decode("&#34;0cc1&#34;") == "\"0cc1\"")
        #expect(XMLText.decode("&#x22;a&#X22;&quot;&lt;&gt;&amp;&apos;") == "\"a\"\"<>&'")
        #expect(XMLText.decode("a & b &unknown; &#xZZ; &") == "a & b &unknown; &#xZZ; &")
        let listing = Data("<R><Part><PartNumber>2</PartNumber><ETag>&#34;x&#34;</ETag></Part><Part><PartNumber>3</PartNumber></Part></R>".utf8)
        let parts = XMLText.all("Part", in: listing)
        #expect(parts.count == 2)
        #expect(XMLText.first("ETag", in: parts[0]) == "\"x\"" && XMLText.first("PartNumber", in: parts[1]) == "3")
        #expect(XMLText.all("Missing", in: listing).isEmpty)
    }

    @Test("the --file-store URL: parsed, and every bad part named")
    func parsing() throws {
        let credentials = ["AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret"]
        let location = try S3Location.parse("s3://my-bucket?endpoint=http://127.0.0.1:8333&region=eu-west-1", environment: credentials)
        #expect(location == S3Location(bucket: "my-bucket", scheme: "http", host: "127.0.0.1", port: 8333, region: "eu-west-1",
                                       credentials: .init(accessKey: "id", secretKey: "secret")))
        #expect(location.authority == "127.0.0.1:8333")
        let https = try S3Location.parse("s3://b.example?endpoint=https://s3.example.com", environment: credentials)
        #expect(https.port == 443 && https.authority == "s3.example.com" && https.region == "us-east-1")
        let presigned = try S3Location.parse("s3://bucket?endpoint=http://h:1&presign=3600", environment: credentials)
        #expect(presigned.presignSeconds == 3600 && location.presignSeconds == nil)
        let v6 = try S3Location.parse("s3://bucket?endpoint=http://[::1]:9000", environment: credentials)
        #expect(v6.host == "::1" && v6.authority == "[::1]:9000")

        let bad: [(String, [String: String], String)] = [
            ("http://bucket?endpoint=http://h:1", credentials, "s3://BUCKET"),
            ("s3://Bucket_Name?endpoint=http://h:1", credentials, "bucket name"),
            ("s3://bucket", credentials, "endpoint="),
            ("s3://bucket?endpoint=ftp://h:1", credentials, "endpoint="),
            ("s3://bucket?endpoint=http://h:1/path", credentials, "endpoint="),
            ("s3://bucket?endpoint=http://h:1&region=eu west", credentials, "region="),
            ("s3://bucket?endpoint=http://h:1&style=virtual", credentials, "unknown option style"),
            ("s3://bucket?endpoint=http://h:1&presign=0", credentials, "presign="),
            ("s3://bucket?endpoint=http://h:1&presign=604801", credentials, "presign="),
            ("s3://bucket?endpoint=http://h:1", ["AWS_ACCESS_KEY_ID": "id"], "AWS_SECRET_ACCESS_KEY"),
        ]
        for (text, environment, named) in bad {
            do {
                _ = try S3Location.parse(text, environment: environment)
                Issue.record("\(text) was accepted")
            } catch let error as ConfigurationError {
                #expect(error.message.contains(named), "\(text): \(error.message)")
            }
        }
    }
}
