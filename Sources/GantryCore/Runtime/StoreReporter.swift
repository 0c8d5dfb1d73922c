import Foundation
import Logging

/// Records what a queued run reports — log lines and progress — in the store, and wakes status streams.
final class StoreReporter: RunReporter, @unchecked Sendable {
    private let store: any JobStore
    private let notifier: ChangeNotifier
    private let requestID: String
    private let attempt: Int
    private let maxLines: Int
    private let logger: Logger
    private let lock = NSLock()
    private var lines = 0

    init(store: any JobStore, notifier: ChangeNotifier, requestID: String, attempt: Int, maxLines: Int, logger: Logger) {
        self.store = store
        self.notifier = notifier
        self.requestID = requestID
        self.attempt = attempt
        self.maxLines = maxLines
        self.logger = logger
    }

    func log(_ entry: LogEntry) async {
        let count = lock.withLock { lines += 1; return lines }
        guard count <= maxLines + 1 else { return }
        var entry = entry
        if count == maxLines + 1 {
            entry = LogEntry(message: "log limit of \(maxLines) lines reached; further lines are dropped", level: .warn, source: "GANTRY", timestamp: entry.timestamp)
        }
        logger.debug("function log", metadata: ["line": "\(entry.message)"])
        do {
            try await store.logAppend(requestID: requestID, entries: [entry])
            notifier.publish(requestID)
        } catch {
            logger.warning("could not store a log line", metadata: ["error": "\(error)"])
        }
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
