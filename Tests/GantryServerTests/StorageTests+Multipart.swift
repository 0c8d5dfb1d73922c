import Foundation
import GantryCore
@testable import GantryServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

extension TestClientProtocol {
    /// Starts a multipart upload; returns the access URL's path and the upload id.
    func startMultipart(type: String = "application/octet-stream", name: String = "upload.bin", auth: HTTPFields) async throws -> (path: String, id: String, url: String) {
        var headers = auth
        headers[.contentType] = type
        headers[.falFileName] = name
        let reply = try await sendBytes(.post, "/files/upload/multipart", Data(), headers: headers)
        try #require(reply.status == .ok, "multipart answered \(reply.status): \(reply.text)")
        let url = try #require(reply.json["access_url"]?.stringValue)
        return (try #require(pathOf(url)), try #require(reply.json["uploadId"]?.stringValue), url)
    }

    /// Uploads one part; returns the ETag header.
    func putPart(_ path: String, _ id: String, _ number: Int, _ data: Data, auth: HTTPFields) async throws -> String {
        let reply = try await sendBytes(.put, "\(path)/multipart/\(id)/\(number)", data, headers: auth + [.contentType: "application/octet-stream"])
        try #require(reply.status == .ok, "part \(number) answered \(reply.status): \(reply.text)")
        return try #require(reply.headers[.eTag])
    }

    /// Posts the part list.
    func completeMultipart(_ path: String, _ id: String, _ parts: [(Int, String)], auth: HTTPFields) async throws -> Reply {
        let list = parts.map { JSONValue.object(["partNumber": .number(Double($0.0)), "etag": .string($0.1)]) }
        return try await send(.post, "\(path)/multipart/\(id)/complete", json: String(decoding: JSONValue.object(["parts": .array(list)]).encoded(), as: UTF8.self), headers: auth)
    }
}

/// Where a host keeps multipart uploads: staged on its disk (local file store) or in the bucket's own multipart
/// upload (S3 file store, when this run has an S3 server).
enum UploadBackend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case disk, bucket

    static var available: [UploadBackend] {
        ProcessInfo.processInfo.environment["GANTRY_TEST_S3"] == nil ? [.disk] : allCases
    }

    var testDescription: String { rawValue }

    /// Options for a host of this backend, with the storage keys.
    func options(_ configure: @escaping @Sendable (inout ServerConfiguration) -> Void = { _ in }) throws -> HostOptions {
        var options = HostOptions(apiKeys: storageKeys)
        let location = self == .bucket ? try S3HostTests.location() : nil
        options.configure = { configuration in
            if let location { configuration.fileStore = .s3(location) }
            configure(&configuration)
        }
        return options
    }
}

extension StorageTests {
    /// Parts listed in the order they finished are assembled in part-number order; the staging directory goes away,
    /// and completing again (a client whose answer was lost) answers the same without touching the file.
    @Test(arguments: [TestingSetup.router, .live], UploadBackend.available)
    func multipartOutOfOrder(mode: TestingSetup, backend: UploadBackend) async throws {
        try await withHost(try backend.options()) { host in
            try await host.application.test(mode) { client in
                let auth = bearer(try await client.storageToken("alice:one"))
                let upload = try await client.startMultipart(type: "application/octet-stream", name: "big.bin", auth: auth)
                // S3 wants every part but the last to be at least 5 MiB.
                let size = backend == .bucket ? 5 << 20 : 70_000
                let chunks = [Data(repeating: 1, count: size), Data(repeating: 2, count: size), Data("tail".utf8)]
                var etags: [Int: String] = [:]
                for number in [3, 1, 2] { etags[number] = try await client.putPart(upload.path, upload.id, number, chunks[number - 1], auth: auth) }
                #expect(Set(etags.values).count == 3)
                // A re-sent part gets a new ETag on disk (the bucket's is its MD5); the list names the one the client kept.
                etags[2] = try await client.putPart(upload.path, upload.id, 2, chunks[1], auth: auth)

                let done = try await client.completeMultipart(upload.path, upload.id, [(2, etags[2]!), (3, etags[3]!), (1, etags[1]!)], auth: auth)
                #expect(done.status == .ok, "\(done.text)")
                #expect(done.json["access_url"] == .string(upload.url))
                let served = try await client.send(.get, upload.path)
                let whole = chunks.reduce(Data(), +)
                // Compared as one Bool: a failing comparison of megabytes would make the test library diff them.
                let same = served.bytes == whole
                #expect(same, "served \(served.status) with \(served.bytes.count) bytes, uploaded \(whole.count)")
                let staging = URL(fileURLWithPath: host.configuration.dataDirectory).appendingPathComponent("uploads/multipart/\(upload.id)")
                #expect(!FileManager.default.fileExists(atPath: staging.path))
                let again = try await client.completeMultipart(upload.path, upload.id, [(1, etags[1]!)], auth: auth)
                #expect(again.status == .ok)
                #expect(again.json["access_url"] == .string(upload.url))
                #expect(try await client.send(.get, upload.path).bytes.count == 2 * size + 4)
                #expect(try await client.sendBytes(.put, "\(upload.path)/multipart/\(upload.id)/4", Data("x".utf8), headers: auth).status == .notFound)
            }
        }
    }

    /// A wrong ETag or a part never uploaded is a 400 naming the list entry; the upload can still be completed after.
    @Test(arguments: UploadBackend.available)
    func multipartBadParts(backend: UploadBackend) async throws {
        try await withHost(try backend.options()) { host in
            try await host.application.test(.router) { client in
                let auth = apiKey("alice:one")
                let upload = try await client.startMultipart(auth: auth)
                let one = try await client.putPart(upload.path, upload.id, 1, Data("a".utf8), auth: auth)
                let two = try await client.putPart(upload.path, upload.id, 2, Data("b".utf8), auth: auth)
                let badETag = try await client.completeMultipart(upload.path, upload.id, [(1, one), (2, "\"0123456789abcdef0123456789abcdef\"")], auth: auth)
                #expect(badETag.status == .badRequest)
                #expect(badETag.json["detail"]?.arrayValue?.first?["loc"] == locPath("body", "parts", "1", "etag"))
                #expect(badETag.json["error_type"] == .string("etag_mismatch"))
                let missing = try await client.completeMultipart(upload.path, upload.id, [(1, one), (3, two)], auth: auth)
                #expect(missing.status == .badRequest)
                #expect(missing.json["detail"]?.arrayValue?.first?["loc"] == locPath("body", "parts", "1", "partNumber"))
                let twice = try await client.completeMultipart(upload.path, upload.id, [(1, one), (1, one)], auth: auth)
                #expect(twice.status == .badRequest)
                for body in ["{}", #"{"parts":[]}"#, #"{"parts":[{"partNumber":1.5,"etag":"x"}]}"#, "nope"] {
                    #expect(try await client.send(.post, "\(upload.path)/multipart/\(upload.id)/complete", json: body, headers: auth).status == .badRequest, "\(body)")
                }
                let badNumber = try await client.sendBytes(.put, "\(upload.path)/multipart/\(upload.id)/0", Data("x".utf8), headers: auth)
                #expect(badNumber.status == .badRequest)
                if backend == .bucket {
                    // S3 wants every part but the last to be at least 5 MiB: the entry of the small part is named.
                    let small = try await client.completeMultipart(upload.path, upload.id, [(2, two), (1, one)], auth: auth)
                    #expect(small.status == .badRequest)
                    #expect(small.json["error_type"] == .string("part_too_small"))
                    #expect(small.json["detail"]?.arrayValue?.first?["loc"] == locPath("body", "parts", "1", "partNumber"))
                    let ok = try await client.completeMultipart(upload.path, upload.id, [(1, one)], auth: auth)
                    #expect(ok.status == .ok, "\(ok.text)")
                    #expect(try await client.send(.get, upload.path).text == "a")
                } else {
                    let ok = try await client.completeMultipart(upload.path, upload.id, [(2, two), (1, one)], auth: auth)
                    #expect(ok.status == .ok)
                    #expect(try await client.send(.get, upload.path).text == "ab")
                }
            }
        }
    }

    /// Another tenant's credential on an upload is a 401; an unknown upload id of one's own file is a 404; the
    /// assembled file has its own limit.
    @Test(arguments: UploadBackend.available)
    func multipartScopeAndLimit(backend: UploadBackend) async throws {
        let options = try backend.options { $0.maxUploadBytes = 4_096; $0.maxMultipartUploadBytes = 8_192 }
        try await withHost(options) { host in
            try await host.application.test(.router) { client in
                let alice = bearer(try await client.storageToken("alice:one")), bob = bearer(try await client.storageToken("bob:two"))
                let upload = try await client.startMultipart(auth: alice)
                let part = try await client.sendBytes(.put, "\(upload.path)/multipart/\(upload.id)/1", Data("x".utf8), headers: bob)
                #expect(part.status == .unauthorized)
                let complete = try await client.completeMultipart(upload.path, upload.id, [(1, "\"x\"")], auth: apiKey("bob:two"))
                #expect(complete.status == .unauthorized)
                let unknown = String(repeating: "0", count: 32)
                #expect(try await client.sendBytes(.put, "\(upload.path)/multipart/\(unknown)/1", Data("x".utf8), headers: alice).status == .notFound)
                #expect(try await client.sendBytes(.put, "\(upload.path)/multipart/..%2F..%2Fetc/1", Data("x".utf8), headers: alice).status == .notFound)
                let other = try await client.startMultipart(auth: alice)
                #expect(try await client.sendBytes(.put, "\(other.path)/multipart/\(upload.id)/1", Data("x".utf8), headers: alice).status == .notFound)

                var parts: [(Int, String)] = []
                for number in 1...3 { parts.append((number, try await client.putPart(upload.path, upload.id, number, Data(repeating: 7, count: 4_000), auth: alice))) }
                let tooBig = try await client.completeMultipart(upload.path, upload.id, parts, auth: alice)
                #expect(tooBig.status == .contentTooLarge)
                #expect(tooBig.json["error_type"] == .string("request_too_large"))
                // (Two parts of 4,000 bytes fit the limit; a bucket takes only the last part below 5 MiB.)
                let kept = backend == .bucket ? 1 : 2
                let fits = try await client.completeMultipart(upload.path, upload.id, Array(parts.prefix(kept)), auth: alice)
                #expect(fits.status == .ok, "\(fits.text)")
                #expect(try await client.send(.get, upload.path).bytes.count == 4_000 * kept)
            }
        }
    }
}
