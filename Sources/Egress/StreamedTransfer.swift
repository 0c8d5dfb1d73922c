import Foundation

/// A reply whose body arrives while it is read: the status and headers first, then the body as chunks.
public struct StreamedReply: Sendable {
    public let status: Int
    public let headers: [(name: String, value: String)]
    /// The body; dropping it (or its iterator) unread stops the transfer.
    public let body: EgressBody

    /// The first header with this name (case-insensitive).
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }
}

/// The body of a streamed reply, read once. The transfer runs ahead of the reader by at most a few hundred KiB
/// (curl's thread waits in its write callback), so a slow reader slows the download instead of filling memory.
/// When the last reference to the body goes, the transfer stops.
public final class EgressBody: AsyncSequence, Sendable {
    public typealias Element = Data
    let sink: BodySink

    init(sink: BodySink) {
        self.sink = sink
    }

    deinit { sink.cancel() }

    public func makeAsyncIterator() -> Iterator { Iterator(body: self) }

    /// Reads the chunks in order; throws `EgressError` when the transfer fails midway.
    public struct Iterator: AsyncIteratorProtocol {
        let body: EgressBody

        public mutating func next() async throws -> Data? { try await body.sink.next() }
    }

    /// Stops the transfer now.
    public func cancel() { sink.cancel() }

    /// The next chunk, nil at the end (what the iterator gives, for readers that keep the body itself).
    public func next() async throws -> Data? { try await sink.next() }

    /// The rest of the body in memory, up to `limit` bytes (for short replies such as an error's XML).
    public func collect(limit: Int) async throws -> Data {
        var data = Data()
        for try await chunk in self {
            data.append(chunk.prefix(Swift.max(0, limit - data.count)))
            if data.count >= limit { cancel(); break }
        }
        return data
    }
}

/// Hands chunks from curl's thread to an async reader, holding the thread while more than `highWater` bytes wait.
///
/// `@unchecked Sendable`: every field is guarded by `condition`.
final class BodySink: @unchecked Sendable {
    typealias Head = (status: Int, headers: [(name: String, value: String)])

    private let condition = NSCondition()
    private let highWater: Int
    private var chunks: [Data] = []
    private var buffered = 0
    private var ended: Result<Void, EgressError>?
    private var cancelled = false
    private var head: Result<Head, EgressError>?
    private var headWaiter: CheckedContinuation<Head, any Error>?
    private var waiter: CheckedContinuation<Data?, any Error>?
    /// Also stops a transfer that has not reached its body yet (curl's progress callback reads it).
    private let onCancel: @Sendable () -> Void
    /// The transfer's own deadline: curl cannot time out while its thread waits here, so the wait itself ends then.
    private let deadline: Date

    init(highWater: Int, deadline: Date, onCancel: @escaping @Sendable () -> Void) {
        self.highWater = highWater
        self.deadline = deadline
        self.onCancel = onCancel
    }

    private static let cancelledError = EgressError(.cancelled, "the request was cancelled")

    // MARK: curl's thread

    /// The reply's status and headers, once its body begins (or it ended without one).
    func deliverHead(status: Int, headers: [(name: String, value: String)]) {
        condition.lock()
        guard head == nil else { condition.unlock(); return }
        head = .success((status, headers))
        let waiting = headWaiter
        headWaiter = nil
        condition.unlock()
        waiting?.resume(returning: (status, headers))
    }

    /// Queues a chunk; blocks while the reader is behind. False when the reader is gone (stop the transfer).
    func push(_ data: Data) -> Bool {
        condition.lock()
        if cancelled { condition.unlock(); return false }
        if let waiting = waiter {
            waiter = nil
            condition.unlock()
            waiting.resume(returning: data)
            return true
        }
        chunks.append(data)
        buffered += data.count
        var inTime = true
        while buffered > highWater && !cancelled && inTime { inTime = condition.wait(until: deadline) }
        let going = !cancelled && inTime
        condition.unlock()
        return going
    }

    /// The transfer is over: success, or the error that ended it (before or after the head).
    func finish(_ result: Result<Void, EgressError>, status: Int, headers: [(name: String, value: String)]) {
        condition.lock()
        if ended == nil { ended = result }
        var headReply: Result<Head, EgressError>?
        if head == nil {
            switch result {
            case .success: head = .success((status, headers))
            case .failure(let error): head = .failure(error)
            }
            headReply = head
        }
        let waitingHead = headReply == nil ? nil : headWaiter
        if headReply != nil { headWaiter = nil }
        // A reader waits only when nothing is queued, so the end goes to it now.
        let waiting = waiter
        waiter = nil
        let outcome = ended!
        condition.unlock()
        if let waitingHead, let headReply { waitingHead.resume(with: headReply.mapError { $0 as any Error }) }
        switch outcome {
        case .success: waiting?.resume(returning: nil)
        case .failure(let error): waiting?.resume(throwing: error)
        }
    }

    // MARK: The reader

    /// Waits for the reply's head.
    func awaitHead() async throws -> Head {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Head, any Error>) in
                condition.lock()
                if let head {
                    condition.unlock()
                    continuation.resume(with: head.mapError { $0 as any Error })
                } else if cancelled {
                    condition.unlock()
                    continuation.resume(throwing: Self.cancelledError)
                } else {
                    headWaiter = continuation
                    condition.unlock()
                }
            }
        } onCancel: {
            cancel()
        }
    }

    /// The next chunk, nil at the end.
    func next() async throws -> Data? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Data?, any Error>) in
                condition.lock()
                if cancelled {
                    condition.unlock()
                    continuation.resume(throwing: Self.cancelledError)
                } else if !chunks.isEmpty {
                    let chunk = chunks.removeFirst()
                    buffered -= chunk.count
                    condition.signal()
                    condition.unlock()
                    continuation.resume(returning: chunk)
                } else if let ended {
                    condition.unlock()
                    continuation.resume(with: ended.map { () -> Data? in nil }.mapError { $0 as any Error })
                } else if waiter != nil {
                    condition.unlock()
                    continuation.resume(throwing: EgressError(.invalidRequest, "a streamed body is read by one reader at a time"))
                } else {
                    waiter = continuation
                    condition.unlock()
                }
            }
        } onCancel: {
            cancel()
        }
    }

    /// The reader is gone: wake curl's thread so the transfer stops, and fail whoever still waits.
    func cancel() {
        condition.lock()
        guard !cancelled else { condition.unlock(); return }
        cancelled = true
        chunks.removeAll()
        buffered = 0
        let waiting = waiter, waitingHead = headWaiter
        waiter = nil
        headWaiter = nil
        // Marked before curl's thread wakes, so the transfer ends as cancelled, not as a failed write.
        onCancel()
        condition.broadcast()
        condition.unlock()
        waiting?.resume(throwing: Self.cancelledError)
        waitingHead?.resume(throwing: Self.cancelledError)
    }
}

extension CurlTransfer {
    /// Starts `request` on its own thread and answers once its head is in; the body follows through the reply.
    static func stream(_ request: TransferRequest, counter: ByteCounter, highWater: Int = 512 * 1024) async throws -> StreamedReply {
        _ = curlGlobalInit
        let state = TransferState(request: request, counter: counter)
        let deadline = Date().addingTimeInterval(Double(request.totalTimeoutMs) / 1000)
        // Weak: the state holds the sink, and the pair must go when the transfer and its reader are done.
        let sink = BodySink(highWater: highWater, deadline: deadline) { [weak state] in state?.cancelled.store(true, ordering: .relaxed) }
        state.sink = sink
        let thread = Thread {
            let result = run(request, state)
            state.sink = nil
            switch result {
            case .success(let outcome): sink.finish(.success(()), status: outcome.status, headers: outcome.headers)
            case .failure(let error): sink.finish(.failure(error), status: state.status, headers: state.headers)
            }
        }
        thread.name = "gantry-egress-stream"
        thread.start()
        let body = EgressBody(sink: sink)
        let head = try await sink.awaitHead()
        return StreamedReply(status: head.status, headers: head.headers, body: body)
    }
}
