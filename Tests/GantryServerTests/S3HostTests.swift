import Egress
import Foundation
import GantryCore
import GantryS3
@testable import GantryServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Imaging
import Testing

/// A host whose file store is the S3 server of this test run (`scripts/s3-server.sh`, `GANTRY_TEST_S3`).
@Suite("Host on an S3 file store", .enabled(if: ProcessInfo.processInfo.environment["GANTRY_TEST_S3"] != nil))
struct S3HostTests {
    static func location(secret: String? = nil) throws -> S3Location {
        let environment = ProcessInfo.processInfo.environment
        return try S3Location.parse(environment["GANTRY_TEST_S3"] ?? "", environment: [
            "AWS_ACCESS_KEY_ID": environment["GANTRY_TEST_S3_ACCESS_KEY"] ?? "",
            "AWS_SECRET_ACCESS_KEY": secret ?? environment["GANTRY_TEST_S3_SECRET_KEY"] ?? "",
        ])
    }

    /// An upload lands in the bucket, a function reads it from there as its input, its output goes to the bucket,
    /// and both are served through `/files/…`; nothing is written under the data directory's `files/`.
    @Test func uploadsAndOutputsLiveInTheBucket() async throws {
        var options = HostOptions(apiKeys: storageKeys)
        let location = try Self.location()
        options.configure = { $0.fileStore = .s3(location) }
        try await withHost(options) { host in
            try await host.application.test(.live) { client in
                let ready = try await client.send(.get, "/ready")
                #expect(ready.status == .ok, "\(ready.text)")

                let png = try smallPNG()
                let uploaded = try await client.uploadFile(png, type: "image/png", name: "in.png", auth: apiKey("alice:one"))
                let uploadedKey = String(try #require(pathOf(uploaded)).dropFirst("/files/".count))
                #expect(try await host.files.get(key: uploadedKey)?.data == png)

                let run = try await client.send(.post, "/gantry/image/convert", json: #"{"image_url":"\#(uploaded)","output_format":"webp"}"#,
                                                headers: apiKey("alice:one"))
                #expect(run.status == .ok, "\(run.text)")
                let output = try #require(run.json["image"]?["url"]?.stringValue)
                let served = try await client.send(.get, try #require(pathOf(output)))
                #expect(served.status == .ok)
                #expect(served.headers[.contentType] == "image/webp")
                #expect(ImageCodec.sniff(served.bytes) == .webp)
                #expect(run.json["image"]?["file_size"] == .number(Double(served.bytes.count)))
                let outputKey = String(try #require(pathOf(output)).dropFirst("/files/".count))
                #expect(try await host.files.size(key: outputKey) == served.bytes.count)

                // A range of a stored file: only those bytes come from the bucket (FileStore.read).
                let ranged = try await client.send(.get, try #require(pathOf(uploaded)), headers: [.range: "bytes=1-4"])
                #expect(ranged.status == .partialContent)
                #expect(ranged.bytes == png.subdata(in: 1..<5))
                #expect(ranged.header("content-range") == "bytes 1-4/\(png.count)")

                let localFiles = URL(fileURLWithPath: host.configuration.dataDirectory).appendingPathComponent("files")
                #expect(!FileManager.default.fileExists(atPath: localFiles.path))
            }
        }
    }

    /// A bucket the host cannot use makes `/ready` a 503 that names the file store, while the host keeps serving.
    @Test func readyFailsWhileTheBucketRefuses() async throws {
        var options = HostOptions()
        let location = try Self.location(secret: "not-the-secret")
        options.configure = { $0.fileStore = .s3(location) }
        try await withHost(options) { host in
            try await host.application.test(.router) { client in
                let ready = try await client.send(.get, "/ready")
                #expect(ready.status == .serviceUnavailable)
                #expect(ready.json["files"] == .string("unreachable"))
                #expect(ready.json["store"] == .string("ok"))
                #expect(try await client.send(.get, "/health").status == .ok)
            }
        }
    }

    /// With `presign=`, an output's record carries a presigned GET of the bucket: it fetches the bytes without the
    /// host, a tampered one is refused by the server, and given back as an input it is read from the bucket (the host
    /// may not fetch loopback URLs, so it cannot have gone over HTTP).
    @Test func presignedOutputURLs() async throws {
        var options = HostOptions()
        let location = try { var location = try Self.location(); location.presignSeconds = 600; return location }()
        options.configure = { $0.fileStore = .s3(location) }
        try await withHost(options) { host in
            try await host.application.test(.router) { client in
                let run = try await client.send(.post, "/gantry/image/convert", json: #"{"image_url":"\#(try pngDataURI())","output_format":"png"}"#)
                #expect(run.status == .ok, "\(run.text)")
                let url = try #require(run.json["image"]?["url"]?.stringValue)
                #expect(url.hasPrefix(location.bucketURL + "/") && url.contains("X-Amz-Signature="), "\(url)")

                let direct = EgressClient(policy: try EgressPolicy(allowingCIDRs: ["127.0.0.1/32"]))
                let fetched = try await direct.fetch(url)
                #expect(ImageCodec.sniff(fetched.data) == .png)
                #expect(run.json["image"]?["file_size"] == .number(Double(fetched.data.count)))
                let tampered = url.replacingOccurrences(of: "X-Amz-Expires=600", with: "X-Amz-Expires=601")
                await #expect(throws: EgressError.self) { _ = try await direct.fetch(tampered) }

                let digest = try await client.send(.post, "/gantry/file/digest", json: #"{"file_url":"\#(url)"}"#)
                #expect(digest.status == .ok, "\(digest.text)")
                #expect(digest.json["size"] == .number(Double(fetched.data.count)))
            }
        }
    }
}
