import Foundation

/// A stored file opened for reading as it arrives: its metadata first, then its bytes in chunks. A remote store
/// streams them from its server while they are read, so serving a large file holds a chunk, not the file.
public struct StoredFileStream: Sendable {
    public var metadata: StoredFileMetadata
    public var chunks: FileChunks

    public init(metadata: StoredFileMetadata, chunks: FileChunks) {
        self.metadata = metadata
        self.chunks = chunks
    }

    /// The whole file in memory (for work that needs all of it, such as re-encoding an image).
    public func collect() async throws -> StoredFile {
        var data = Data()
        data.reserveCapacity(metadata.size)
        for try await chunk in chunks { data.append(chunk) }
        return StoredFile(data: data, contentType: metadata.contentType, etag: metadata.etag, modified: metadata.modified)
    }
}

/// The bytes of a stored file as an async sequence of chunks, whatever produces them. Each iterator reads the
/// file once; dropping it early stops the producer.
public struct FileChunks: AsyncSequence, Sendable {
    public typealias Element = Data

    private let open: @Sendable () -> Iterator

    /// Chunks from a producer: `open` makes a new reader whose `next` gives the chunks and then nil.
    public init(open: @escaping @Sendable () -> @Sendable () async throws -> Data?) {
        self.open = { Iterator(pull: open()) }
    }

    /// Bytes already in memory, as one chunk.
    public init(data: Data) {
        self.init {
            let remaining = OneChunk(data)
            return { remaining.take() }
        }
    }

    public func makeAsyncIterator() -> Iterator { open() }

    public struct Iterator: AsyncIteratorProtocol {
        let pull: @Sendable () async throws -> Data?

        public mutating func next() async throws -> Data? { try await pull() }
    }
}

/// Hands out one chunk once.
private final class OneChunk: @unchecked Sendable {
    private let lock = NSLock()
    private var data: Data?

    init(_ data: Data) { self.data = data.isEmpty ? nil : data }

    func take() -> Data? {
        lock.withLock {
            defer { data = nil }
            return data
        }
    }
}
