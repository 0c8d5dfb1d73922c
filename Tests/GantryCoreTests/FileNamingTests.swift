import Foundation
@testable import GantryCore
import Logging
import Testing

@Suite("Tenant-scoped file names, store moves and direct store reads")
struct FileNamingTests {
    let naming = FileNaming.ephemeral()

    /// Keys are `yyyy-mm-dd/<32 hex>-<16 hex>.<ext>`, valid store keys, readable by their tenant only.
    @Test func keysNameTheirTenant() throws {
        let key = naming.makeKey(tenant: "alice", fileExtension: "png", now: Date(timeIntervalSince1970: 1_800_000_000))
        let match = try #require(key.wholeMatch(of: /2027-01-15\/([0-9a-f]{32})-([0-9a-f]{16})\.png/))
        #expect(isValidFileKey(key))
        #expect(naming.isReadable(key: key, by: "alice"))
        #expect(!naming.isReadable(key: key, by: "bob"))
        #expect(!naming.isReadable(key: key, by: "alice "))
        // The same name under another secret (another host) proves nothing.
        #expect(!FileNaming.ephemeral().isReadable(key: key, by: "alice"))
        // Moving the file to another day, or editing its id or tag, breaks the proof.
        let id = String(match.1), tag = String(match.2)
        #expect(!naming.isReadable(key: "2027-01-16/\(id)-\(tag).png", by: "alice"))
        let flipped = (tag.first == "0" ? "1" : "0") + tag.dropFirst()
        #expect(!naming.isReadable(key: "2027-01-15/\(id)-\(flipped).png", by: "alice"))
        #expect(!naming.isReadable(key: "2027-01-15/\(id.dropLast())f-\(tag).png", by: "alice") || id.last == "f")
        // The extension is not part of the proof: the tag covers tenant, day and id.
        #expect(naming.isReadable(key: "2027-01-15/\(id)-\(tag).bin", by: "alice"))
    }

    /// Names of other shapes (older untagged outputs, traversal attempts) are readable by no one.
    @Test(arguments: ["2026-11-21/6f1c1c9e-4a5e-4b4e-9a55-1e2f3a4b5c6d.png", "2026-11-21/x.png", "../2026-11-21/x.png",
                      "2026-11-21/\(String(repeating: "a", count: 32))-\(String(repeating: "b", count: 16))", ""])
    func otherShapesAreUnreadable(key: String) {
        #expect(!naming.isReadable(key: key, by: "alice"))
        #expect(!naming.isReadable(key: key, by: "default"))
    }

    /// The extension comes from a plain file name extension, else from the content type.
    @Test(arguments: [
        ("photo.PNG", "image/jpeg", "png"), ("upload.bin", "image/png", "bin"), ("archive.tar.gz", nil, "gz"),
        ("noext", "image/webp", "webp"), (".bashrc", "text/plain", "txt"), ("a.toolongext", "application/json", "json"),
        ("evil.p/ng", "image/gif", "gif"), ("x.ph p", nil, "bin"), (nil, "image/jpeg; charset=binary", "jpg"), (nil, nil, "bin"),
        ("résumé.pdf", nil, "pdf"), ("x.é", "video/mp4", "mp4"),
    ] as [(String?, String?, String)])
    func extensions(fileName: String?, contentType: String?, expected: String) {
        #expect(FileNaming.fileExtension(fileName: fileName, contentType: contentType) == expected)
    }

    /// Content types and extensions map both ways; page-like types are never served as such.
    @Test func contentTypeMapping() {
        for ext in ["png", "jpg", "webp", "gif", "json", "txt", "pdf", "mp4", "bin"] {
            #expect(fileExtension(forContentType: contentType(forExtension: ext)) == ext)
        }
        #expect(contentType(forExtension: "html") == "application/octet-stream")
        #expect(contentType(forExtension: "svg") == "application/octet-stream")
        #expect(fileExtension(forContentType: "text/html") == "bin")
    }

    /// `putFile` moves a staged file into place, refuses to replace an existing one, and leaves no temporary behind.
    @Test(arguments: [true, false])
    func putFileMovesWithoutReplacing(local: Bool) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("files-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let store: any FileStore = local ? try LocalFileStore(root: root.appendingPathComponent("files")) : MemoryFileStore()
        let staged = root.appendingPathComponent("staged")
        try Data("first".utf8).write(to: staged)
        let key = naming.makeKey(tenant: "alice", fileExtension: "txt")
        try await store.putFile(at: staged, key: key, contentType: "text/plain")
        #expect(!FileManager.default.fileExists(atPath: staged.path))
        #expect(try await store.get(key: key)?.data == Data("first".utf8))
        #expect(try await store.size(key: key) == 5)
        #expect(try await store.size(key: naming.makeKey(tenant: "alice", fileExtension: "txt")) == nil)

        try Data("second".utf8).write(to: staged)
        await #expect(throws: FileStoreError(.exists, "a file already exists under \(key)")) {
            try await store.putFile(at: staged, key: key, contentType: "text/plain")
        }
        #expect(try await store.get(key: key)?.data == Data("first".utf8))
        await #expect(throws: FileStoreError.self) { try await store.putFile(at: staged, key: "../x.txt", contentType: "text/plain") }
        if local {
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("files/\(key.prefix(10))").path)
            #expect(leftovers == [String(key.dropFirst(11))])
        }
    }
}

@Suite("RunContext reads the host's own files directly")
struct DirectReadTests {
    struct RecordingFetcher: InputFetcher {
        let seen = Recorder()
        func fetch(_ url: String) async throws -> FetchedInput {
            seen.add(url)
            throw InputFetchError(code: "forbidden_address", message: "loopback refused")
        }
    }

    final class Recorder: @unchecked Sendable {
        private let lock = NSLock()
        private var urls: [String] = []
        func add(_ url: String) { lock.withLock { urls.append(url) } }
        var all: [String] { lock.withLock { urls } }
    }

    struct SilentReporter: RunReporter {
        func log(_ entry: LogEntry) async {}
        func progress(_ fraction: Double) async {}
    }

    func context(tenant: String, files: any FileStore, naming: FileNaming, fetcher: RecordingFetcher) -> RunContext {
        RunContext(requestID: "r", functionID: "f", tenant: tenant, attempt: 1, syncMode: false, deadline: nil,
                   logger: Logger(label: "test"), reporter: SilentReporter(), fetcher: fetcher, files: files,
                   publicURL: "http://127.0.0.1:9", naming: naming)
    }

    /// Own files come from the store (no fetch); another tenant's, a missing one and an untagged one all answer the
    /// same `file_not_found` naming the field; the size cap applies; other URLs still go through the fetcher.
    @Test func ownFilesOnly() async throws {
        let files = MemoryFileStore(), naming = FileNaming.ephemeral(), fetcher = RecordingFetcher()
        let alice = context(tenant: "alice", files: files, naming: naming, fetcher: fetcher)
        let bob = context(tenant: "bob", files: files, naming: naming, fetcher: fetcher)
        let stored = try await alice.store(Data(repeating: 7, count: 100), contentType: "image/png", fileExtension: "png", width: 1, height: 1)
        #expect(stored.url.hasPrefix("http://127.0.0.1:9/files/"))

        let read = try await alice.fetch(stored.url, field: "image_url")
        #expect(read.data == Data(repeating: 7, count: 100))
        #expect(read.contentType == "image/png")
        #expect(try await alice.fetch(stored.url + "?download=1", field: "image_url").data.count == 100)

        let missing = "http://127.0.0.1:9/files/" + naming.makeKey(tenant: "alice", fileExtension: "png")
        for (ctx, url) in [(bob, stored.url), (alice, missing), (alice, "http://127.0.0.1:9/files/2026-11-21/x.png"),
                           (alice, "http://127.0.0.1:9/files/../../etc/passwd")] {
            await #expect(throws: FunctionError.input(field: ["image_url"], code: "file_not_found", message: "No file at \(url)")) {
                try await ctx.fetch(url, field: "image_url")
            }
        }
        await #expect(throws: FunctionError.input(field: ["f"], code: "too_large", message: "\(stored.url) is larger than 99 bytes")) {
            try await alice.fetch(stored.url, field: "f", maxBytes: 99)
        }
        #expect(fetcher.seen.all.isEmpty)

        await #expect(throws: FunctionError.input(field: ["u"], code: "forbidden_address", message: "loopback refused")) {
            try await alice.fetch("http://127.0.0.1:10/files/x", field: "u")
        }
        #expect(fetcher.seen.all == ["http://127.0.0.1:10/files/x"])
    }
}
