import Foundation
import GantryCore
import GantryS3
import Testing

/// One suite, run on every `FileStore`: in memory, on local disk, and in a real S3 server (SeaweedFS, started by
/// `scripts/test.sh` through `scripts/s3-server.sh`, which sets `GANTRY_TEST_S3`).
@Suite("FileStore conformance")
struct FileStoreConformanceTests {
    static var kinds: [StoreKind] { [.memory, .local] + (S3TestServer.configured ? [.s3] : []) }

    @Test("put then get: bytes, type and a stable ETag; a missing key is nil", arguments: kinds)
    func putAndGet(_ kind: StoreKind) async throws {
        let fixture = try await StoreFixture(kind)
        defer { fixture.remove() }
        let key = FileStoreConformanceTests.key("webp")
        try await fixture.store.put(Data([1, 2, 3, 0, 255]), key: key, contentType: "image/webp")
        let file = try #require(try await fixture.store.get(key: key))
        #expect(file.data == Data([1, 2, 3, 0, 255]))
        #expect(file.contentType == "image/webp")
        #expect(try await fixture.store.get(key: key)?.etag == file.etag)
        #expect(try await fixture.store.size(key: key) == 5)
        #expect(try await fixture.store.get(key: FileStoreConformanceTests.key("png")) == nil)
        #expect(try await fixture.store.size(key: FileStoreConformanceTests.key("png")) == nil)
    }

    @Test("metadata without the bytes, and a byte range of a file", arguments: kinds)
    func metadataAndRanges(_ kind: StoreKind) async throws {
        let fixture = try await StoreFixture(kind)
        defer { fixture.remove() }
        let key = FileStoreConformanceTests.key("bin")
        let data = Data((0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        try await fixture.store.put(data, key: key, contentType: "application/octet-stream")
        let meta = try #require(try await fixture.store.metadata(key: key))
        let file = try #require(try await fixture.store.get(key: key))
        #expect(meta.size == 1000 && meta.contentType == "application/octet-stream" && meta.etag == file.etag)
        #expect(try await fixture.store.read(key: key, range: 10..<20) == data.subdata(in: 10..<20))
        #expect(try await fixture.store.read(key: key, range: 990..<1000) == data.subdata(in: 990..<1000))
        #expect(try await fixture.store.read(key: key, range: 0..<1000) == data)
        #expect(try await fixture.store.metadata(key: FileStoreConformanceTests.key("bin")) == nil)
        #expect(try await fixture.store.read(key: FileStoreConformanceTests.key("bin"), range: 0..<1) == nil)
    }

    @Test("a key the host never makes is refused", arguments: kinds)
    func invalidKeys(_ kind: StoreKind) async throws {
        let fixture = try await StoreFixture(kind)
        defer { fixture.remove() }
        for key in ["../escape.png", "2026-12-06/.hidden", "2026-12-06/a/b.png", "nodate.png"] {
            await #expect(throws: FileStoreError.self) { try await fixture.store.put(Data([1]), key: key, contentType: "image/png") }
            let staged = try fixture.stage(Data([1]))
            await #expect(throws: FileStoreError.self) { try await fixture.store.putFile(at: staged, key: key, contentType: "image/png") }
        }
    }

    @Test("putFile moves a staged file in and never replaces one", arguments: kinds)
    func putFileWithoutReplacing(_ kind: StoreKind) async throws {
        let fixture = try await StoreFixture(kind)
        defer { fixture.remove() }
        let key = FileStoreConformanceTests.key("txt")
        let staged = try fixture.stage(Data("first".utf8))
        try await fixture.store.putFile(at: staged, key: key, contentType: "text/plain")
        #expect(!FileManager.default.fileExists(atPath: staged.path))
        #expect(try await fixture.store.get(key: key)?.data == Data("first".utf8))

        let second = try fixture.stage(Data("second".utf8))
        await #expect(throws: FileStoreError(.exists, "a file already exists under \(key)")) {
            try await fixture.store.putFile(at: second, key: key, contentType: "text/plain")
        }
        #expect(try await fixture.store.get(key: key)?.data == Data("first".utf8))
    }

    @Test("a file larger than a part goes in whole (S3: a multipart upload) and is not replaced either", arguments: kinds)
    func largeFile(_ kind: StoreKind) async throws {
        let fixture = try await StoreFixture(kind)
        defer { fixture.remove() }
        // 11 MiB and a bit: three 5 MiB parts on S3, the last one short.
        var bytes = [UInt8](repeating: 0, count: 11 * 1024 * 1024 + 12345)
        for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: index &* 2_654_435_761 >> 13) }
        let data = Data(bytes)
        let key = FileStoreConformanceTests.key("bin")
        try await fixture.store.putFile(at: try fixture.stage(data), key: key, contentType: "application/octet-stream")
        let file = try #require(try await fixture.store.get(key: key))
        // Compared as one Bool: a failing comparison of megabytes would make the test library diff them for minutes.
        let whole = file.data == data
        #expect(whole, "read back \(file.data.count) of \(data.count) bytes")
        #expect(file.contentType == "application/octet-stream")
        await #expect(throws: FileStoreError.self) {
            try await fixture.store.putFile(at: try fixture.stage(Data([1, 2])), key: key, contentType: "application/octet-stream")
        }
        #expect(try await fixture.store.size(key: key) == data.count)

        // Streamed (S3: while it arrives from the bucket), the same bytes and metadata.
        let opened = try #require(try await fixture.store.stream(key: key))
        #expect(opened.metadata == (try await fixture.store.metadata(key: key)))
        var streamed = Data(), chunks = 0
        for try await chunk in opened.chunks {
            streamed.append(chunk)
            chunks += 1
        }
        let same = streamed == data
        #expect(same, "streamed \(streamed.count) bytes in \(chunks) chunks")
        if kind == .s3 { #expect(chunks > 1) }
        // A stream dropped after its first chunk leaves the store serving.
        for _ in 0..<3 {
            var iterator = try #require(try await fixture.store.stream(key: key)).chunks.makeAsyncIterator()
            #expect(try await iterator.next() != nil)
        }
        #expect(try await fixture.store.stream(key: FileStoreConformanceTests.key("bin")) == nil)
        #expect(try await fixture.store.read(key: key, range: 5..<9) == data.subdata(in: 5..<9))
    }

    @Test("two writers racing for one key: exactly one wins", arguments: kinds)
    func racingWriters(_ kind: StoreKind) async throws {
        let fixture = try await StoreFixture(kind)
        defer { fixture.remove() }
        let key = FileStoreConformanceTests.key("txt")
        let contenders = try (0..<6).map { try fixture.stage(Data("writer \($0)".utf8)) }
        let store = fixture.store
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for staged in contenders {
                group.addTask { (try? await store.putFile(at: staged, key: key, contentType: "text/plain")) != nil }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1)
        let stored = try #require(try await store.get(key: key))
        #expect(String(decoding: stored.data, as: UTF8.self).hasPrefix("writer "))
    }

    static func key(_ ext: String) -> String {
        "2026-12-06/\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")).\(ext)"
    }
}

enum StoreKind: String, Sendable, CustomTestStringConvertible {
    case memory, local, s3
    var testDescription: String { rawValue }
}

/// A fresh store of one kind and a scratch folder for staged files.
struct StoreFixture {
    let store: any FileStore
    let scratch: URL

    init(_ kind: StoreKind) async throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("filestore-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        switch kind {
        case .memory: store = MemoryFileStore()
        case .local: store = try LocalFileStore(root: scratch.appendingPathComponent("files"))
        case .s3: store = try await S3TestServer.store()
        }
    }

    func stage(_ data: Data) throws -> URL {
        let url = scratch.appendingPathComponent("staged-\(UUID().uuidString)")
        try data.write(to: url)
        return url
    }

    func remove() { try? FileManager.default.removeItem(at: scratch) }
}
