import Foundation
import GantryCore
@testable import GantryServer
import Hummingbird
import NIOCore
import Testing

@Suite("Upload bodies stream to disk under a limit (unit)")
struct UploadSpoolTests {
    struct Chunks: AsyncSequence {
        typealias Element = ByteBuffer
        let sizes: [Int]
        var failAfter: Int?

        struct Broken: Error {}

        struct AsyncIterator: AsyncIteratorProtocol {
            var remaining: [Int]
            var index = 0
            let failAfter: Int?
            mutating func next() async throws -> ByteBuffer? {
                if let failAfter, index == failAfter { throw Broken() }
                guard !remaining.isEmpty else { return nil }
                let size = remaining.removeFirst()
                index += 1
                return ByteBuffer(repeating: UInt8(index), count: size)
            }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: sizes, failAfter: failAfter) }
    }

    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spool-\(UUID().uuidString)")

    init() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// Up to and including the limit the bytes land in the file in order.
    @Test func writesEverythingUpToTheLimit() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("body")
        let size = try await BodySpool.spool(Chunks(sizes: [3, 0, 5, 2]), to: file, limit: 10)
        #expect(size == 10)
        #expect(try Data(contentsOf: file) == Data([1, 1, 1] + [3, 3, 3, 3, 3] + [4, 4]))
    }

    /// One byte over the limit is a 413 and no file; so is a body that fails midway; an existing path is never reused.
    @Test func refusesAndCleansUp() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("body")
        await #expect(throws: APIError.self) { try await BodySpool.spool(Chunks(sizes: [6, 5]), to: file, limit: 10) }
        #expect(!FileManager.default.fileExists(atPath: file.path))
        do {
            _ = try await BodySpool.spool(Chunks(sizes: [4, 4, 4]), to: file, limit: 10)
            Issue.record("expected a 413")
        } catch let error as APIError {
            #expect(error.status == .contentTooLarge && error.errorType == "request_too_large")
        }
        await #expect(throws: Chunks.Broken.self) { try await BodySpool.spool(Chunks(sizes: [4, 4], failAfter: 1), to: file, limit: 10) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
        try Data("keep".utf8).write(to: file)
        await #expect(throws: FileStoreError.self) { try await BodySpool.spool(Chunks(sizes: [1]), to: file, limit: 10) }
        #expect(try Data(contentsOf: file) == Data("keep".utf8))
    }

    /// A declared Content-Length over the limit is refused before any byte is read.
    @Test func declaredLength() throws {
        #expect(throws: APIError.self) { try BodySpool.checkDeclaredLength("11", limit: 10) }
        try BodySpool.checkDeclaredLength("10", limit: 10)
        try BodySpool.checkDeclaredLength(nil, limit: 10)
        try BodySpool.checkDeclaredLength("junk", limit: 10)
    }

    /// The start-up sweep removes every interrupted body and part, keeps valid multipart uploads, and drops
    /// expired or manifest-less ones.
    @Test func stagingSweepAtStart() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let staging = try UploadStaging(dataDirectory: directory)
        let manager = FileManager.default
        let body = staging.newIncomingFile()
        try Data("partial".utf8).write(to: body)
        func upload(_ id: String, created: Date?) throws -> URL {
            let dir = staging.multipart.appendingPathComponent(id)
            try manager.createDirectory(at: dir, withIntermediateDirectories: true)
            if let created {
                let manifest = MultipartManifest(tenant: "t", key: "k", contentType: "x", created: created.timeIntervalSince1970)
                try JSONEncoder().encode(manifest).write(to: dir.appendingPathComponent("manifest.json"))
            }
            try Data("p".utf8).write(to: dir.appendingPathComponent("part-1-aa"))
            try Data("half".utf8).write(to: dir.appendingPathComponent(".incoming-123"))
            try manager.createDirectory(at: dir.appendingPathComponent(".completing"), withIntermediateDirectories: true)
            return dir
        }
        let valid = try upload(String(repeating: "a", count: 32), created: Date())
        let expired = try upload(String(repeating: "b", count: 32), created: Date(timeIntervalSinceNow: -2 * 86_400))
        let orphan = try upload(String(repeating: "c", count: 32), created: nil)
        #expect(staging.sweepAtStart() == 5)  // body, expired, orphan, and the valid upload's two leftovers
        #expect(!manager.fileExists(atPath: body.path))
        #expect(!manager.fileExists(atPath: expired.path) && !manager.fileExists(atPath: orphan.path))
        #expect(try manager.contentsOfDirectory(atPath: valid.path).sorted() == ["manifest.json", "part-1-aa"])
        #expect(staging.multipartDirectory("../../etc") == nil)
        #expect(staging.multipartDirectory(String(repeating: "A", count: 32)) == nil)
        #expect(staging.multipartDirectory(String(repeating: "a", count: 32)) != nil)
        #expect(isoTimestampWithOffset(Date(timeIntervalSince1970: 1_893_456_000)) == "2030-01-01T00:00:00+00:00")
    }
}
