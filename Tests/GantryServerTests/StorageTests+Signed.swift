import Foundation
import GantryCore
@testable import GantryServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Imaging
import Signing
import Testing

extension StorageTests {
    /// `initiate` → a signed PUT that needs no credentials (and ignores an API key sent along) → the file URL serves
    /// the bytes; the URL works once, for its own file and content type, until it expires.
    @Test func signedUpload() async throws {
        try await withHost(HostOptions(apiKeys: storageKeys)) { host in
            try await host.application.test(.router) { client in
                let initiated = try await client.send(.post, "/storage/upload/initiate?storage_type=gcs",
                                                      json: #"{"file_name":"cat.png","content_type":"image/png"}"#, headers: apiKey("alice:one"))
                #expect(initiated.status == .ok, "\(initiated.text)")
                let uploadURL = try #require(initiated.json["upload_url"]?.stringValue)
                let fileURL = try #require(initiated.json["file_url"]?.stringValue)
                #expect(uploadURL.hasPrefix(fileURL + "?signature="))
                #expect(fileURL.hasSuffix(".png"))
                let uploadPath = try #require(pathOf(uploadURL)), filePath = try #require(pathOf(fileURL))
                #expect(try await client.send(.get, filePath).status == .notFound)

                let png = try smallPNG()
                let put = try await client.sendBytes(.put, uploadPath, png, headers: [.contentType: "image/png"])
                #expect(put.status == .ok, "\(put.text)")
                let served = try await client.send(.get, filePath)
                #expect(served.bytes == png)
                #expect(served.headers[.contentType] == "image/png")
                // Files never change: other bytes to the same URL are refused (403: fal_client retries 409s), even with
                // a key sent along as fal_client does; the same bytes again (a retry) succeed.
                let again = try await client.sendBytes(.put, uploadPath, Data("other".utf8), headers: apiKey("alice:one") + [.contentType: "image/png"])
                #expect(again.status == .forbidden)
                #expect(again.json["error_type"] == .string("already_uploaded"))
                #expect(try await client.sendBytes(.put, uploadPath, png, headers: [.contentType: "image/png"]).status == .ok)
                #expect(try await client.send(.get, filePath).bytes == png)

                // fal_client's own shape: the key comes along; the initiate itself needs one.
                #expect(try await client.send(.post, "/storage/upload/initiate?storage_type=gcs", json: "{}").status == .unauthorized)
                let second = try await client.send(.post, "/storage/upload/initiate", json: #"{"content_type":"text/plain"}"#, headers: apiKey("bob:two"))
                let secondURL = try #require(second.json["upload_url"]?.stringValue)
                #expect(try #require(second.json["file_url"]?.stringValue).hasSuffix(".txt"))
                let withKey = try await client.sendBytes(.put, try #require(pathOf(secondURL)), Data("hello".utf8), headers: apiKey("bob:two") + [.contentType: "text/plain"])
                #expect(withKey.status == .ok)
            }
        }
    }

    /// Missing signature → 401; tampered, expired, another file's, or another content type → 403.
    @Test func signedUploadRefusals() async throws {
        try await withHost(HostOptions(apiKeys: storageKeys)) { host in
            try await host.application.test(.router) { client in
                let initiated = try await client.send(.post, "/storage/upload/initiate?storage_type=gcs",
                                                      json: #"{"file_name":"a.txt","content_type":"text/plain"}"#, headers: apiKey("alice:one"))
                let uploadURL = try #require(initiated.json["upload_url"]?.stringValue)
                let fileURL = try #require(initiated.json["file_url"]?.stringValue)
                let filePath = try #require(pathOf(fileURL))
                let signature = String(try #require(uploadURL.split(separator: "=", maxSplits: 1).last))
                let key = String(filePath.dropFirst("/files/".count))
                let signer = try storageSigner(host)
                let expired = signer.mint(StorageClaims(tenant: "alice", purpose: .upload, expires: Date().timeIntervalSince1970 - 1, key: key, contentType: "text/plain"))
                let storageToken = try await client.storageToken("alice:one")
                let otherFile = FileNaming(signer: signer).makeKey(tenant: "alice", fileExtension: "txt")
                let tampered = String(signature.dropLast()) + (signature.last == "A" ? "B" : "A")
                let text: HTTPFields = [.contentType: "text/plain"]
                let cases: [(String, HTTPFields, HTTPResponse.Status, String)] = [
                    (filePath, text, .unauthorized, "unauthorized"),
                    (filePath + "?signature=", text, .unauthorized, "unauthorized"),
                    (filePath + "?signature=\(tampered)", text, .forbidden, "invalid_signature"),
                    (filePath + "?signature=\(expired)", text, .forbidden, "signature_expired"),
                    (filePath + "?signature=\(storageToken)", text, .forbidden, "invalid_signature"),
                    ("/files/\(otherFile)?signature=\(signature)", text, .forbidden, "invalid_signature"),
                    (filePath + "?signature=\(signature)", [.contentType: "image/png"], .forbidden, "content_type_mismatch"),
                ]
                for (path, headers, status, type) in cases {
                    let reply = try await client.sendBytes(.put, path, Data("x".utf8), headers: headers)
                    #expect(reply.status == status, "\(path): \(reply.text)")
                    #expect(reply.json["error_type"] == .string(type), "\(path): \(reply.text)")
                }
                #expect(try await client.send(.get, filePath).status == .notFound)
                #expect(try await client.send(.get, "/files/\(otherFile)").status == .notFound)
            }
        }
    }

    /// Another tenant's upload as a function input answers like a missing file (422 naming the field); one's own is
    /// read from the store even though egress forbids loopback; outputs of one function feed another.
    @Test func storeFilesAsInputs() async throws {
        try await withHost(HostOptions(apiKeys: storageKeys)) { host in
            // Live: the URLs name a real loopback port, which the egress policy refuses, so only a direct read works.
            try await host.application.test(.live) { client in
                let png = try smallPNG()
                let url = try await client.uploadFile(png, type: "image/png", name: "in.png", auth: apiKey("alice:one"))
                let missing = "\(host.publicURL.string)/files/" + FileNaming(signer: try storageSigner(host)).makeKey(tenant: "bob", fileExtension: "png")
                for (file, token) in [(url, "bob:two"), (missing, "bob:two")] {
                    let reply = try await client.send(.post, "/gantry/image/convert", json: #"{"image_url":"\#(file)"}"#, headers: apiKey(token))
                    #expect(reply.status == .unprocessableContent, "\(reply.text)")
                    #expect(reply.json["error_type"] == .string("file_not_found"))
                    let issue = try #require(reply.json["detail"]?.arrayValue?.first)
                    #expect(issue["loc"] == locPath("body", "image_url"))
                    #expect(issue["type"] == .string("file_not_found"))
                }
                // A URL of this host that is not a stored file still goes through egress, which refuses loopback.
                let notStore = try await client.send(.post, "/gantry/file/digest", json: #"{"file_url":"\#(host.publicURL.string)/health"}"#, headers: apiKey("alice:one"))
                #expect(notStore.json["error_type"] == .string("forbidden_address"), "\(notStore.text)")

                let converted = try await client.send(.post, "/gantry/image/convert", json: #"{"image_url":"\#(url)","output_format":"webp"}"#, headers: apiKey("alice:one"))
                #expect(converted.status == .ok, "\(converted.text)")
                #expect(converted.json["image"]?["width"] == .number(3))
                let output = try #require(converted.json["image"]?["url"]?.stringValue)

                let digest = try await client.send(.post, "/gantry/file/digest", json: #"{"file_url":"\#(url)"}"#, headers: apiKey("alice:one"))
                #expect(digest.status == .ok, "\(digest.text)")
                #expect(digest.json == .object(["sha256": .string(SHA256.hex(png)), "size": .number(Double(png.count)), "content_type": .string("image/png")]))
                let outputDigest = try await client.send(.post, "/gantry/file/digest", json: #"{"file_url":"\#(output)"}"#, headers: apiKey("alice:one"))
                #expect(outputDigest.json["content_type"] == .string("image/webp"), "\(outputDigest.text)")
                let foreignOutput = try await client.send(.post, "/gantry/file/digest", json: #"{"file_url":"\#(output)"}"#, headers: apiKey("bob:two"))
                #expect(foreignOutput.json["error_type"] == .string("file_not_found"))
                let inline = try await client.send(.post, "/gantry/file/digest", json: #"{"file_url":"data:text/plain;base64,aGk="}"#)
                #expect(inline.status == .unauthorized)
                let dataURI = try await client.send(.post, "/gantry/file/digest", json: #"{"file_url":"data:text/plain;base64,aGk="}"#, headers: apiKey("bob:two"))
                #expect(dataURI.json == .object(["sha256": .string(SHA256.hex(Array("hi".utf8))), "size": .number(2), "content_type": .string("text/plain")]))
            }
        }
    }
}
