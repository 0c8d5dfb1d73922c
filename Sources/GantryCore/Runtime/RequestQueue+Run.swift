import Foundation
import Signing
import Logging

extension RequestQueue {
    /// A synchronous run's answer: the request id it ran under and how it ended.
    public struct SyncAnswer: Sendable {
        public var requestID: String
        public var completion: Completion
    }

    /// Runs an admitted input now and answers with its completion (fal's run surface, the tool routes).
    ///
    /// An in-process function runs at once under its concurrency limit and execution timeout, without storing the
    /// request. A runner function goes through the queue (runners only pull from it): stored, claimed, waited for;
    /// its id is a real request id. Cancelling the calling task (the client went away) stops the run either way.
    /// - Parameter startTimeout: for runner functions, seconds the request may wait for a runner before it expires
    ///   (`X-Fal-Request-Timeout`); in-process functions start at once.
    public func run(_ admitted: Admitted, tenant: String, startTimeout: Double? = nil) async -> SyncAnswer {
        if admitted.function.isRunnerFunction { return await runQueued(admitted, tenant: tenant, startTimeout: startTimeout) }
        let requestID = UUID.secureRandom().lowercasedString
        var logger = self.logger
        logger[metadataKey: "request_id"] = "\(requestID)"
        logger[metadataKey: "function"] = "\(admitted.function.id)"
        let outcome = await executor.run(
            admitted.function, input: admitted.input,
            identity: .init(requestID: requestID, tenant: tenant, syncMode: admitted.syncMode),
            reporter: LoggerReporter(logger: logger), control: RunControl())
        let completion = outcome.completion(timeoutSeconds: admitted.function.manifest.timeoutSeconds) ?? .failed(Completion.stoppedError)
        return SyncAnswer(requestID: requestID, completion: completion)
    }

    private func runQueued(_ admitted: Admitted, tenant: String, startTimeout: Double?) async -> SyncAnswer {
        let record: RequestRecord
        do {
            record = try await submit(Submission(admitted, tenant: tenant, startTimeout: startTimeout)).record
        } catch {
            logger.error("could not queue a synchronous run", metadata: ["error": "\(error)"])
            return SyncAnswer(requestID: UUID.secureRandom().lowercasedString, completion: .failed(.failed("Could not queue the request", errorType: "internal_error")))
        }
        var finished: RequestRecord?
        var watch = watch(id: record.id, tenant: tenant, alsoWakingOn: [NotifierKeys.drain])
        defer { watch.close() }
        // Until it ends, the client goes away, or the host shuts down (the request stays queued for after).
        while !Task.isCancelled && !drain.isDraining, let current = try? await watch.next(timeout: .seconds(1)) {
            if current.state.isTerminal {
                finished = current
                break
            }
        }
        if finished == nil && Task.isCancelled {
            // The client went away: nobody will read the answer, so the work is not worth doing. Store writes run
            // to completion even from a cancelled task.
            _ = try? await cancel(id: record.id, tenant: tenant)
        }
        guard let finished, let completion = Completion(stored: finished) ?? Self.expiredCompletion(finished) else {
            return SyncAnswer(requestID: record.id, completion: .failed(FunctionError(
                status: 503, errorType: "host_shutting_down",
                detail: .message("The host is shutting down; the request stays queued (\(record.id)) and runs when a runner claims it"))))
        }
        return SyncAnswer(requestID: record.id, completion: completion)
    }

    /// An expired request answers 504 with the start-deadline message.
    private static func expiredCompletion(_ record: RequestRecord) -> Completion? {
        guard record.state == .expired else { return nil }
        return .failed(FunctionError(status: 504, errorType: "request_timeout", detail: .message("Request timed out before it started")))
    }
}
