import Foundation
import GantryCore
import Logging
import ServiceLifecycle
import Signing

/// In a cluster, the data directory's secret files mirror the shared store's copies, so every node signs upload
/// tokens, tags file names and signs webhooks with the same secrets.
///
/// At start (`adopt`) each file is published to the store unless another node did first, in which case this node
/// takes the cluster's copy; an existing local file is what a node offers, so a single host that grows into a
/// cluster keeps its secrets. While running, the service copies any change made to the store (`gantry keys`
/// with `--database-url`) into the local file within `interval`; the webhook key ring notices the file change
/// within a second.
struct SharedFilesSync: Service {
    /// The files kept in step: the storage HMAC secret and the webhook key ring.
    static let names = ["storage-secret", "webhook-keys.json"]

    let store: any SharedFileStore
    let directory: URL
    let interval: Duration
    let logger: Logger

    /// Publishes or adopts every shared file; call before anything reads them.
    static func adopt(store: any SharedFileStore, directory: URL, logger: Logger) async throws {
        for name in names {
            let local = directory.appendingPathComponent(name)
            let offered = try FileManager.default.contents(atPath: local.path) ?? fresh(name)
            let shared = try await store.sharedFileInsertIfAbsent(name: name, content: offered)
            if shared != FileManager.default.contents(atPath: local.path) { try SecretFile.write(shared, to: local) }
            logger.notice(shared == offered ? "this node's copy of a shared secret file is the cluster's"
                                            : "took the cluster's copy of a shared secret file", metadata: ["file": "\(name)"])
        }
    }

    /// A new file of each kind, as a first start would create it.
    static func fresh(_ name: String) throws -> Data {
        switch name {
        case "storage-secret":
            return Data(SecureRandom.bytes(32))
        default:
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("gantry-keys-\(UUID.secureRandom().lowercasedString)")
            defer { try? FileManager.default.removeItem(at: scratch) }
            try SigningKeyRing.rotate(fileAt: scratch, delay: 0)
            guard let data = FileManager.default.contents(atPath: scratch.path) else { throw SigningError("cannot read \(scratch.path)") }
            return data
        }
    }

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            for name in Self.names {
                do {
                    let local = directory.appendingPathComponent(name)
                    if let shared = try await store.sharedFileGet(name: name), shared != FileManager.default.contents(atPath: local.path) {
                        try SecretFile.write(shared, to: local)
                        logger.notice("a shared secret file changed in the cluster; took the new copy", metadata: ["file": "\(name)"])
                    }
                } catch {
                    logger.warning("could not read a shared secret file", metadata: ["file": "\(name)", "error": "\(error)"])
                }
            }
        }
    }
}
