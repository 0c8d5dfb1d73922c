import Foundation

/// Small files every node of a cluster must hold the same copy of — the storage HMAC secret that signs upload tokens
/// and tags file names, and the webhook signing keys a receiver verifies against any node's JWKS — kept by a store
/// all nodes share. The embedded stores do not conform: one process keeps them in its data directory.
public protocol SharedFileStore: Sendable {
    /// The stored content under `name`, or nil.
    func sharedFileGet(name: String) async throws -> Data?
    /// Stores `content` under `name` unless something is already there, and returns what is stored: the first
    /// node to start decides.
    func sharedFileInsertIfAbsent(name: String, content: Data) async throws -> Data
    /// Replaces the content under `name` if it is still `expected` (`gantry keys` against a cluster: a read, a
    /// change, then this); false when another writer changed it in between, and nothing was written.
    func sharedFileReplace(name: String, expected: Data, content: Data, now: Date) async throws -> Bool
}
