import Foundation
import GantryCore
import GantryPostgres
@testable import GantryServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

/// Two hosts on one PostgreSQL database (`GANTRY_TEST_POSTGRES`): nodes of one cluster.
@Suite("Two hosts on one PostgreSQL database", .enabled(if: ProcessInfo.processInfo.environment["GANTRY_TEST_POSTGRES"] != nil))
struct ClusterHostTests {
    /// A fresh database for the cluster, dropped afterwards.
    static func withDatabase(_ body: (DatabaseURL) async throws -> Void) async throws {
        var logger = Logger(label: "cluster-tests")
        logger.logLevel = .critical
        let server = try DatabaseURL(ProcessInfo.processInfo.environment["GANTRY_TEST_POSTGRES"] ?? "")
        try await PostgresDatabases.withScratch(on: server, prefix: "gantry_cluster", logger: logger, body)
    }

    static let runnerToken = RunnerToken(id: "gpu1", secret: "s3cret-long-enough", globs: ["acme/*"])

    /// A node: the shared database, and a runner token for `acme/*` (so registrations are installable everywhere).
    static func node(_ url: DatabaseURL) -> HostOptions {
        var options = HostOptions(store: .postgres(url), apiKeys: storageKeys)
        options.configure = { $0.runnerTokens = [runnerToken] }
        return options
    }

    /// A request submitted through one node is answered, status and result, by the other; a storage token one
    /// node minted is accepted by the other; both publish the same webhook keys.
    @Test func nodesShareRequestsAndSecrets() async throws {
        try await Self.withDatabase { url in
            try await withHost(Self.node(url)) { a in
                try await withHost(Self.node(url)) { b in
                    try await a.application.test(.router) { nodeA in
                        try await b.application.test(.router) { nodeB in
                            let submitted = try await nodeA.submit("gantry/echo", #"{"prompt":"across","n":1}"#, headers: apiKey("alice:one"))
                            let id = try #require(submitted["request_id"]?.stringValue)
                            _ = try await nodeB.waitForStatus(.string("/queue/gantry/echo/requests/\(id)/status"), "COMPLETED",
                                                              headers: apiKey("alice:one"))
                            let result = try await nodeB.send(.get, "/queue/gantry/echo/requests/\(id)", headers: apiKey("alice:one"))
                            #expect(result.status == .ok, "\(result.text)")
                            #expect(result.json["prompt"] == "across")
                            // Another tenant sees nothing, on either node.
                            #expect(try await nodeB.send(.get, "/queue/gantry/echo/requests/\(id)/status", headers: apiKey("bob:two")).status == .notFound)

                            let token = try await nodeA.storageToken("alice:one")
                            let uploaded = try await nodeB.uploadFile(Data("shared".utf8), type: "text/plain", auth: bearer(token))
                            #expect(uploaded.hasPrefix(b.publicURL.string + "/files/"))

                            let jwksA = try await nodeA.send(.get, "/.well-known/jwks.json")
                            let jwksB = try await nodeB.send(.get, "/.well-known/jwks.json")
                            #expect(jwksA.status == .ok && jwksA.bytes == jwksB.bytes)
                        }
                    }
                }
            }
        }
    }

    /// With the files in a bucket, one multipart upload can go through any nodes: created on A, a part through
    /// each, completed through both at once, read through A. No node keeps a part once its PUT is answered.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["GANTRY_TEST_S3"] != nil))
    func multipartUploadAcrossNodes() async throws {
        let location = try S3HostTests.location()
        try await Self.withDatabase { url in
            var options = Self.node(url)
            options.configure = { $0.fileStore = .s3(location) }
            try await withHost(options) { a in
                try await withHost(options) { b in
                    try await a.application.test(.router) { nodeA in
                        try await b.application.test(.router) { nodeB in
                            let auth = bearer(try await nodeA.storageToken("alice:one"))
                            let upload = try await nodeA.startMultipart(name: "across.bin", auth: auth)
                            let first = Data(repeating: 0x5a, count: 5 << 20), second = Data("and the rest".utf8)
                            let one = try await nodeA.putPart(upload.path, upload.id, 1, first, auth: auth)
                            let two = try await nodeB.putPart(upload.path, upload.id, 2, second, auth: auth)
                            // Completed through both nodes at once (a client retrying early): both answer the file's URL.
                            async let throughA = nodeA.completeMultipart(upload.path, upload.id, [(1, one), (2, two)], auth: auth)
                            let done = try await nodeB.completeMultipart(upload.path, upload.id, [(2, two), (1, one)], auth: auth)
                            let other = try await throughA
                            #expect(done.status == .ok, "\(done.text)")
                            #expect(other.status == .ok && other.json["access_url"] == .string(upload.url), "\(other.text)")
                            let served = try await nodeA.send(.get, upload.path)
                            let same = served.bytes == first + second
                            #expect(same, "served \(served.status) with \(served.bytes.count) bytes")
                            for host in [a, b] {
                                let staged = URL(fileURLWithPath: host.configuration.dataDirectory).appendingPathComponent("uploads")
                                let left = FileManager.default.enumerator(atPath: staged.path)?.allObjects.compactMap { $0 as? String } ?? []
                                #expect(left.filter { $0.hasPrefix("incoming/") || $0.contains("part-") }.isEmpty, "\(left)")
                            }
                            // Completing again through A (a lost answer retried) answers the same.
                            let again = try await nodeA.completeMultipart(upload.path, upload.id, [(1, one)], auth: auth)
                            #expect(again.status == .ok && again.json["access_url"] == .string(upload.url))
                        }
                    }
                }
            }
        }
    }

    /// A change one node makes wakes a waiter on the other through the change feed: a new queued request (the other
    /// node's idle dispatcher), a cancel, and a runner function registered through one node (installed on the other).
    /// The waits are long (30 s) and re-read nothing, so only the feed can end them.
    @Test func changesOnOneNodeWakeWaitersOnAnother() async throws {
        try await Self.withDatabase { url in
            try await withHost(Self.node(url)) { a in
                try await withHost(Self.node(url)) { b in
                    try await a.application.test(.router) { _ in
                        try await b.application.test(.router) { _ in
                            let feed = try #require(b.changeFeed)
                            #expect(await eventually { feed.isListening })
                            // A request of a function no node serves stays queued until something moves it.
                            let inserted = try await a.store.requestInsert(RequestInsertParams(
                                id: "cluster-wait", tenant: "alice", functionID: "nobody/serves", input: Data("{}".utf8),
                                maxAttempts: 1, createdAt: Date()))
                            #expect(inserted.record.state == .queued)

                            let work = b.notifier.subscribe(NotifierKeys.work("nobody/serves"))
                            _ = try await a.store.requestInsert(RequestInsertParams(
                                id: "cluster-work", tenant: "alice", functionID: "nobody/serves", input: Data("{}".utf8),
                                maxAttempts: 1, createdAt: Date()))
                            #expect(await work.wait(timeout: .seconds(30)))

                            let cancelled = b.notifier.subscribe(NotifierKeys.request("cluster-wait"))
                            #expect(try await a.queue.cancel(id: "cluster-wait", tenant: "alice") == .cancelled)
                            #expect(await cancelled.wait(timeout: .seconds(30)))
                            #expect(try await b.queue.get(id: "cluster-wait", tenant: "alice")?.state == .cancelled)

                            let declaration: JSONValue = .object([
                                "id": "acme/blur", "concurrency": 1, "timeout_seconds": 30, "max_attempts": 1,
                                "input_schema": .object(["type": "object"]), "output_schema": .object(["type": "object"]),
                            ])
                            #expect(b.queue.function(id: "acme/blur") == nil)
                            _ = try await a.runners.register(token: Self.runnerToken, instance: "box", sdk: nil, functions: [declaration])
                            #expect(await eventually(timeout: .seconds(30)) { b.queue.function(id: "acme/blur") != nil })
                            try await a.runners.unregister(token: Self.runnerToken, functionID: "acme/blur")
                            #expect(await eventually(timeout: .seconds(30)) { b.queue.function(id: "acme/blur") == nil })
                        }
                    }
                }
            }
        }
    }
}
