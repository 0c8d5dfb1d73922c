import Foundation
import Logging

extension RunnerGateway {
    /// A claimed attempt the caller still holds, with what the per-job calls need to know of it.
    struct HeldAttempt {
        var fence: LeaseFence
        var info: AttemptTable.Attempt
    }

    /// Checks that the caller holds the attempt its lease token names (409 otherwise, 404 for an unknown request).
    /// `read` forces a store read (for calls that must see the current row, such as the cancel flag).
    func held(_ requestID: String, leaseToken: String, token: RunnerToken, read: Bool = false) async throws -> (HeldAttempt, RequestRecord?) {
        guard let fence = RunnerLease.fence(requestID: requestID, token: leaseToken, runnerID: token.id) else { throw RunnerError.badLeaseToken() }
        let now = configuration.now()
        if !read, let info = attempts.get(fence, now: now) { return (HeldAttempt(fence: fence, info: info), nil) }
        guard let record = try await store.requestGet(id: requestID) else { throw RunnerError.requestNotFound(requestID) }
        guard fence.holds(for: record) else { throw RunnerError.leaseLost(requestID) }
        if let info = attempts.get(fence, now: now) { return (HeldAttempt(fence: fence, info: info), record) }
        // A host restarted since the claim: remember the attempt again.
        var requestLogger = logger
        requestLogger[metadataKey: "request_id"] = "\(record.id)"
        let info = AttemptTable.Attempt(
            functionID: record.functionID, tenant: record.tenant, syncMode: RequestQueue.syncMode(of: record.input),
            startedAt: record.startedAt ?? now,
            reporter: StoreReporter(store: store, notifier: notifier, partials: partials, requestID: record.id, attempt: record.attempt,
                                    maxLines: configuration.maxLogLinesPerAttempt, logger: requestLogger),
            lastUsed: now)
        attempts.insert(fence, info)
        return (HeldAttempt(fence: fence, info: info), record)
    }

    /// Log lines, progress and partial outputs of a running attempt; answers whether a cancel was requested.
    public func events(token: RunnerToken, requestID: String, leaseToken: String, logs: [LogEntry], progress: Double?,
                       partialOutputs: [JSONValue]) async throws -> Bool {
        let (attempt, record) = try await held(requestID, leaseToken: leaseToken, token: token, read: true)
        // Every item is checked before any is applied, so a refused call changes nothing (its retry duplicates nothing).
        let sizes = partialOutputs.map { $0.encoded().count }
        if let index = sizes.firstIndex(where: { $0 > limits.maxPartialBytes }) {
            throw RunnerError.field([.string("partial"), .number(Double(index))], "Larger than \(limits.maxPartialBytes) bytes", type: "too_long")
        }
        for (partial, size) in zip(partialOutputs, sizes) { partials.publish(requestID, partial, size: size) }
        if !logs.isEmpty {
            await attempt.info.reporter.append(logs.map { entry in
                var entry = entry
                if entry.message.utf8.count > limits.maxLogMessageBytes {
                    entry.message = String(decoding: entry.message.utf8.prefix(limits.maxLogMessageBytes), as: UTF8.self) + " …(cut)"
                }
                return entry
            })
        }
        if let progress, progress.isFinite { await attempt.info.reporter.progress(min(max(progress, 0), 1)) }
        return record?.cancelRequested ?? false
    }

    /// Stores an output file of a running attempt under the request's tenant (a `data:` URI in `sync_mode`).
    public func upload(token: RunnerToken, requestID: String, leaseToken: String, data: Data, contentType: String,
                       fileExtension: String, width: Int?, height: Int?) async throws -> ImageRecord {
        // Always against the row: a runner whose lease was rescued must not write into the tenant's store.
        let (attempt, _) = try await held(requestID, leaseToken: leaseToken, token: token, read: true)
        let key = environment.naming.makeKey(tenant: attempt.info.tenant, fileExtension: fileExtension, now: configuration.now())
        let fileName = String(key.split(separator: "/").last ?? Substring(key))
        if attempt.info.syncMode {
            return ImageRecord(url: "data:\(contentType);base64,\(data.base64EncodedString())", contentType: contentType,
                               fileName: fileName, fileSize: data.count, width: width, height: height)
        }
        try await environment.files.put(data, key: key, contentType: contentType)
        let locator = FileLocator(publicURL: environment.publicURL.string, files: environment.files)
        return ImageRecord(url: locator.url(for: key, now: configuration.now()), contentType: contentType, fileName: fileName,
                           fileSize: data.count, width: width, height: height)
    }

    /// Reads a file of this host's store that an attempt's input names, under the request's tenant.
    public func readInput(token: RunnerToken, requestID: String, leaseToken: String, url: String) async throws -> StoredFile {
        let (attempt, _) = try await held(requestID, leaseToken: leaseToken, token: token, read: true)
        let notFound = RunnerError(404, "file_not_found", "No file at \(url) for this request")
        guard let key = FileLocator(publicURL: environment.publicURL.string, files: environment.files).key(of: url) else { throw notFound }
        guard environment.naming.isReadable(key: key, by: attempt.info.tenant), let file = try await environment.files.get(key: key) else {
            throw notFound
        }
        return file
    }

    /// How a runner says an attempt ended.
    public enum Outcome: Sendable, Equatable {
        /// The output JSON, encoded canonically.
        case output(Data)
        /// A failure; `inputError` makes it the caller's 422 (never retried).
        case failure(message: String, errorType: String?, inputError: Bool, loc: [JSONValue])
    }

    /// What posting an outcome did.
    public struct Completed: Sendable, Equatable {
        public var state: RequestState
        /// The same outcome had already been recorded for this attempt (a retried post).
        public var duplicate: Bool
    }

    /// Records a runner's outcome under the attempt's fence; a repeat of the recorded outcome is harmless.
    public func complete(token: RunnerToken, requestID: String, leaseToken: String, outcome: Outcome) async throws -> Completed {
        guard let fence = RunnerLease.fence(requestID: requestID, token: leaseToken, runnerID: token.id) else { throw RunnerError.badLeaseToken() }
        let now = configuration.now()
        var info = attempts.get(fence, now: now)
        var record: RequestRecord?
        if info == nil || Self.isCancelReport(outcome) {
            // Unknown here (the host restarted since the claim) or a cancel report: look at the row itself.
            guard let row = try await store.requestGet(id: requestID) else { throw RunnerError.requestNotFound(requestID) }
            record = row
        }
        let completion = Self.completion(outcome, cancelRequested: record?.cancelRequested ?? false)
        if let record, !fence.holds(for: record) { return try duplicateOrLost(record, fence: fence, completion: completion) }
        if info == nil { info = try await held(requestID, leaseToken: leaseToken, token: token).0.info }
        guard let info else { throw RunnerError.leaseLost(requestID) }
        var requestLogger = logger
        requestLogger[metadataKey: "request_id"] = "\(requestID)"
        requestLogger[metadataKey: "function"] = "\(info.functionID)"
        requestLogger[metadataKey: "attempt"] = "\(fence.attempt)"
        if try await recorder.complete(completion, fence: fence, functionID: info.functionID, elapsed: now.timeIntervalSince(info.startedAt),
                                       logger: requestLogger) {
            attempts.remove(fence)
            return Completed(state: completion.state, duplicate: false)
        }
        attempts.remove(fence)
        guard let record = try await store.requestGet(id: requestID) else { throw RunnerError.requestNotFound(requestID) }
        return try duplicateOrLost(record, fence: fence, completion: completion)
    }

    /// A post whose fence no longer holds: harmless when it repeats what this attempt already recorded.
    private func duplicateOrLost(_ record: RequestRecord, fence: LeaseFence, completion: Completion) throws -> Completed {
        if record.state.isTerminal, record.attempt == fence.attempt, Completion(stored: record) == completion {
            return Completed(state: record.state, duplicate: true)
        }
        throw RunnerError.leaseLost(record.id)
    }

    private static func isCancelReport(_ outcome: Outcome) -> Bool {
        if case .failure(_, "request_cancelled"?, false, _) = outcome { return true }
        return false
    }

    /// The completion a runner's outcome ends the request with.
    static func completion(_ outcome: Outcome, cancelRequested: Bool) -> Completion {
        switch outcome {
        case .output(let body):
            return .succeeded(body)
        case .failure(let message, let type, true, let loc):
            return .failed(.input(loc: loc, code: type ?? "value_error", message: message))
        case .failure(_, "request_cancelled"?, false, _) where cancelRequested:
            return .cancelled
        case .failure(let message, "request_timeout"?, false, _):
            return .failed(.failed(message, errorType: "request_timeout", status: 504))
        case .failure(let message, let type, false, _):
            return .failed(.failed(message, errorType: type ?? "function_error", status: 500))
        }
    }

    /// Gives a claimed request back to the queue without counting the attempt (a runner shutting down).
    public func release(token: RunnerToken, requestID: String, leaseToken: String) async throws {
        let (attempt, _) = try await held(requestID, leaseToken: leaseToken, token: token)
        attempts.remove(attempt.fence)
        guard try await recorder.release(attempt.fence, functionID: attempt.info.functionID) else { throw RunnerError.leaseLost(requestID) }
    }
}
