import Foundation
import Logging

/// Records how a claimed attempt ended, whoever executed it (an in-process worker or a runner): the typed
/// terminal transition under the attempt's fence, the metrics, and the wake-ups of waiters and streams.
struct AttemptRecorder: Sendable {
    let store: any JobStore
    let notifier: ChangeNotifier
    let partials: PartialOutputs
    /// Where the stored terminal record goes, so the polls that follow read it from memory.
    let finished: FinishedRecords
    let now: @Sendable () -> Date

    /// Ends the attempt with `completion`; false when the fence no longer held (nothing changed).
    func complete(_ completion: Completion, fence: LeaseFence, functionID: String, elapsed: Double?, logger: Logger) async throws -> Bool {
        let instant = now()
        let result = completion.result
        let update: TerminalUpdate
        switch completion {
        case .succeeded:
            update = TerminalUpdate(RequestSucceededParams(fence: fence, result: result, inferenceTime: elapsed, now: instant))
        case .failed(let error):
            update = TerminalUpdate(RequestFailedParams(
                fence: fence, result: result, errorMessage: error.message, errorType: error.errorType, inferenceTime: elapsed, now: instant))
        case .cancelled:
            update = TerminalUpdate(RequestCancelledParams(fence: fence, result: result, inferenceTime: elapsed, now: instant))
        }
        let stored = try await store.requestFinish(update)
        if let stored { finished.keep(stored) }
        let recorded = stored != nil
        if recorded {
            RuntimeMetrics.shared.finished(functionID, completion.state).increment()
            logger.info("finished", metadata: ["state": "\(completion.state.rawValue)", "seconds": "\(elapsed.map { String(format: "%.3f", $0) } ?? "-")"])
            partials.finish(fence.requestID)
            notifier.publish(NotifierKeys.request(fence.requestID))
        }
        return recorded
    }

    /// Puts the attempt back in the queue without counting it (or ends it cancelled when a cancel is pending);
    /// false when the fence no longer held.
    func release(_ fence: LeaseFence, functionID: String) async throws -> Bool {
        let released = try await store.requestRelease(RequestReleaseParams(fence: fence, now: now()))
        if released {
            notifier.publish(NotifierKeys.request(fence.requestID))
            notifier.publish(NotifierKeys.work(functionID))
        }
        return released
    }
}
