import Foundation

/// Why a run was stopped before it finished on its own.
public enum StopReason: Sendable, Equatable {
    /// The client cancelled the request.
    case user
    /// The manifest's execution timeout passed.
    case timeout
    /// The host is shutting down and the grace period ended; the request goes back to the queue uncounted.
    case shutdown
    /// The lease was lost (another process rescued the request); this attempt's outcome no longer matters.
    case leaseLost
}

/// The outcome of running a function once.
public enum RunOutcome: Sendable {
    case succeeded(Data)
    case failed(FunctionError)
    case stopped(StopReason)
}

/// Lets other parts of the host stop one run: the first reason given wins.
public final class RunControl: @unchecked Sendable {
    private let lock = NSLock()
    private var reason: StopReason?
    private var waiter: CheckedContinuation<StopReason?, Never>?
    private var abandoned = false

    public init() {}

    /// Asks the run to stop; later requests keep the first reason.
    public func stop(_ newReason: StopReason) {
        let waiting: CheckedContinuation<StopReason?, Never>? = lock.withLock {
            guard reason == nil else { return nil }
            reason = newReason
            defer { waiter = nil }
            return waiter
        }
        waiting?.resume(returning: newReason)
    }

    /// The reason the run was asked to stop, if it was.
    public var stopReason: StopReason? { lock.withLock { reason } }

    /// Waits until `stop` is called; returns nil when the waiting task is cancelled first.
    func waitForStop() async -> StopReason? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<StopReason?, Never>) in
                let immediate: StopReason?? = lock.withLock {
                    if let reason { return .some(reason) }
                    if abandoned { return .some(nil) }
                    waiter = continuation
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiting: CheckedContinuation<StopReason?, Never>? = lock.withLock {
                abandoned = true
                defer { waiter = nil }
                return waiter
            }
            waiting?.resume(returning: nil)
        }
    }
}

/// Runs a function once under an execution timeout and a `RunControl`, turning every way it can end into a
/// `RunOutcome`. Shared by queued execution and synchronous runs.
public enum FunctionRunner {
    public static func run(
        _ function: RegisteredFunction, input: Data, context: RunContext, control: RunControl
    ) async -> RunOutcome {
        let timeout = function.manifest.timeoutSeconds
        return await withTaskGroup(of: RunOutcome?.self) { group in
            group.addTask {
                do {
                    return .succeeded(try await function.handler.run(input: input, context: context))
                } catch let error as FunctionError {
                    return .failed(error)
                } catch is CancellationError {
                    return .stopped(control.stopReason ?? .user)
                } catch {
                    return .failed(.failed("\(function.id) failed: \(error)"))
                }
            }
            group.addTask {
                guard (try? await Task.sleep(for: .seconds(timeout))) != nil else { return nil }
                control.stop(.timeout)
                return nil
            }
            group.addTask {
                _ = await control.waitForStop()
                return nil
            }
            var outcome: RunOutcome = .stopped(.user)
            while let next = await group.next() {
                if let finished = next {
                    outcome = finished
                    break
                }
                // The control fired (timeout, cancel, shutdown, lost lease): cancel the function cooperatively and
                // keep waiting for it to return, so its outcome is known before the caller touches the store.
                if control.stopReason != nil { group.cancelAll() }
            }
            group.cancelAll()
            // A function that ignored cancellation and still succeeded keeps its result (River's rule too);
            // any other ending after a stop is reported as the stop.
            if case .succeeded = outcome { return outcome }
            if let reason = control.stopReason { return .stopped(reason) }
            return outcome
        }
    }
}
