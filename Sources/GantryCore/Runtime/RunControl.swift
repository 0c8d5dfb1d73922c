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

/// Lets other parts of the host stop one run: the first reason given wins, and every stop handler runs once.
public final class RunControl: @unchecked Sendable {
    private let lock = NSLock()
    private var reason: StopReason?
    private var handlers: [@Sendable () -> Void] = []

    public init() {}

    /// Asks the run to stop; later requests keep the first reason.
    public func stop(_ newReason: StopReason) {
        let toRun: [@Sendable () -> Void] = lock.withLock {
            guard reason == nil else { return [] }
            reason = newReason
            defer { handlers = [] }
            return handlers
        }
        for handler in toRun { handler() }
    }

    /// The reason the run was asked to stop, if it was.
    public var stopReason: StopReason? { lock.withLock { reason } }

    /// Runs `handler` when the run is stopped (at once if it already was).
    func onStop(_ handler: @escaping @Sendable () -> Void) {
        let already: Bool = lock.withLock {
            if reason != nil { return true }
            handlers.append(handler)
            return false
        }
        if already { handler() }
    }
}

/// Stops runs whose execution deadline passed. One monitor per dispatcher, ticked by its maintenance loop, instead
/// of a sleeping timer task per run: on the synchronous path every task saved is throughput.
public final class DeadlineMonitor: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [ObjectIdentifier: (control: RunControl, deadline: Date)] = [:]

    public init() {}

    func register(_ control: RunControl, deadline: Date) {
        lock.withLock { entries[ObjectIdentifier(control)] = (control, deadline) }
    }

    func unregister(_ control: RunControl) {
        lock.withLock { _ = entries.removeValue(forKey: ObjectIdentifier(control)) }
    }

    /// Stops (with `.timeout`) every registered run whose deadline is before `now`.
    public func stopOverdue(now: Date) {
        let overdue: [RunControl] = lock.withLock {
            entries.values.filter { $0.deadline < now }.map(\.control)
        }
        for control in overdue { control.stop(.timeout) }
    }

    /// The number of runs being watched.
    public var count: Int { lock.withLock { entries.count } }
}

/// The task executor a caller's own task runs on, when it prefers one (a connection's event loop). A function run
/// for that caller starts its task there too: its caller waits on it right away, and crossing to the shared pool
/// and back would cost two thread hand-offs per run.
public enum CallerExecutor {
    @TaskLocal public static var preferred: (any TaskExecutor)?
}

/// Runs a function once under its execution timeout and a `RunControl`, turning every way it can end into a
/// `RunOutcome`. Only `RunExecutor` calls it.
enum FunctionRunner {
    /// - Parameter deadlines: the monitor that enforces the timeout; without one (the CLI) a timer task does.
    static func run(
        _ function: RegisteredFunction, handler: AnyHostedFunction, input: Data, context: RunContext, control: RunControl,
        deadlines: DeadlineMonitor? = nil
    ) async -> RunOutcome {
        let deadline = context.deadline ?? Date().addingTimeInterval(function.manifest.timeoutSeconds)
        // The function runs in a task of its own so that a stop (timeout, cancel, shutdown, lost lease) can cancel
        // it; it is awaited right here, so it never outlives this call.
        let work = Task(executorPreference: CallerExecutor.preferred) { () -> RunOutcome in
            do {
                return .succeeded(try await handler.run(input: input, context: context))
            } catch let error as FunctionError {
                return .failed(error)
            } catch is CancellationError {
                return .stopped(control.stopReason ?? .user)
            } catch {
                return .failed(.failed("\(function.id) failed: \(error)"))
            }
        }
        control.onStop { work.cancel() }
        var timer: Task<Void, Never>?
        if let deadlines {
            deadlines.register(control, deadline: deadline)
        } else {
            timer = Task {
                guard (try? await Task.sleep(for: .seconds(max(0, deadline.timeIntervalSinceNow)))) != nil else { return }
                control.stop(.timeout)
            }
        }
        let outcome = await withTaskCancellationHandler {
            await work.value
        } onCancel: {
            control.stop(.user)
        }
        deadlines?.unregister(control)
        timer?.cancel()
        // A function that ignored cancellation and still succeeded keeps its result (River's rule too); any other
        // ending after a stop is reported as the stop.
        if case .succeeded = outcome { return outcome }
        if let reason = control.stopReason { return .stopped(reason) }
        return outcome
    }
}
