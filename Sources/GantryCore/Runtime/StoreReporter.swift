import Foundation
import Logging

/// Records what a queued run reports — log lines and progress — in the store, and wakes status streams.
final class StoreReporter: RunReporter, @unchecked Sendable {
    private let store: any JobStore
    private let notifier: ChangeNotifier
    private let partials: PartialOutputs?
    private let requestID: String
    private let attempt: Int
    private let maxLines: Int
    private let logger: Logger
    private let lock = NSLock()
    private var lines = 0

    init(store: any JobStore, notifier: ChangeNotifier, partials: PartialOutputs? = nil, requestID: String, attempt: Int,
         maxLines: Int, logger: Logger) {
        self.store = store
        self.notifier = notifier
        self.partials = partials
        self.requestID = requestID
        self.attempt = attempt
        self.maxLines = maxLines
        self.logger = logger
    }

    func log(_ entry: LogEntry) async {
        await append([entry])
    }

    /// Stores a batch of lines in one write, keeping the attempt's line limit (one last line says so).
    func append(_ entries: [LogEntry]) async {
        guard let first = entries.first else { return }
        let (start, count) = lock.withLock { () -> (Int, Int) in
            let start = lines
            lines += entries.count
            return (start, entries.count)
        }
        var kept: [LogEntry] = []
        for (offset, entry) in entries.enumerated() where start + offset < maxLines {
            kept.append(entry)
        }
        if start < maxLines + 1, start + count > maxLines {
            kept.append(LogEntry(message: "log limit of \(maxLines) lines reached; further lines are dropped", level: .warn,
                                 source: "GANTRY", timestamp: entries.last?.timestamp ?? first.timestamp))
        }
        guard !kept.isEmpty else { return }
        for entry in kept { logger.debug("function log", metadata: ["line": "\(entry.message)"]) }
        do {
            try await store.logAppend(requestID: requestID, entries: kept)
            notifier.publish(requestID)
        } catch {
            logger.warning("could not store log lines", metadata: ["error": "\(error)"])
        }
    }

    func partial(_ output: JSONValue) async {
        partials?.publish(requestID, output)
    }

    func progress(_ fraction: Double) async {
        do {
            try await store.requestSetProgress(id: requestID, attempt: attempt, progress: fraction)
            notifier.publish(requestID)
        } catch {
            logger.warning("could not store progress", metadata: ["error": "\(error)"])
        }
    }
}

/// Sends what a synchronous or CLI run reports to a logger and an optional progress callback.
public struct LoggerReporter: RunReporter {
    let logger: Logger
    let onProgress: (@Sendable (Double) -> Void)?
    let onLog: (@Sendable (LogEntry) -> Void)?

    public init(logger: Logger, onLog: (@Sendable (LogEntry) -> Void)? = nil, onProgress: (@Sendable (Double) -> Void)? = nil) {
        self.logger = logger
        self.onLog = onLog
        self.onProgress = onProgress
    }

    public func log(_ entry: LogEntry) async {
        logger.info("\(entry.message)")
        onLog?(entry)
    }

    public func progress(_ fraction: Double) async {
        onProgress?(fraction)
    }
}
