import Foundation
import Logging
import ServiceLifecycle

/// The queue side of a host, composed in one place: the function catalog, the executors (in-process dispatcher and
/// the runner gateway), the sweeper, and the `RequestQueue` the surfaces use. `buildApplication` and the tests
/// both make it here.
public struct QueueRuntime: Sendable {
    /// The surfaces' one way in.
    public let queue: RequestQueue
    /// The runner protocol, for the runner routes.
    public let runners: RunnerGateway
    /// Begun as the first step of a shutdown: answers runners' long polls and synchronous waits on the queue.
    public let drain: DrainSignal
    /// The long-running parts, in start order: executor (deadlines), dispatcher, sweeper, runner gateway.
    public let services: [any Service]
    /// The in-process change bus every waiter subscribes to; a cluster's change feed publishes other nodes'
    /// changes on it.
    public let notifier: ChangeNotifier

    /// Builds the runtime over `store`, installs the runner functions a previous run registered, and rescues what a
    /// previous process left running, before anything claims.
    public static func start(
        store: any JobStore, builtins: FunctionRegistry, environment: RunEnvironment, configuration: DispatcherConfiguration,
        runnerTokens: [RunnerToken] = [], runnerLimits: RunnerGateway.Limits = .init(), logger: Logger
    ) async throws -> QueueRuntime {
        let catalog = FunctionCatalog(builtins: builtins)
        let notifier = ChangeNotifier()
        let partials = PartialOutputs(notifier: notifier, now: configuration.now)
        let executor = RunExecutor(functions: builtins.functions, environment: environment, tick: configuration.tick,
                                   now: configuration.now, logger: logger)
        let finished = FinishedRecords(retention: configuration.retention, now: configuration.now)
        let recorder = AttemptRecorder(store: store, notifier: notifier, partials: partials, finished: finished, now: configuration.now)
        let dispatcher = Dispatcher(store: store, catalog: catalog, notifier: notifier, executor: executor, recorder: recorder,
                                    partials: partials, configuration: configuration, logger: logger)
        let sweeper = Sweeper(store: store, notifier: notifier, configuration: configuration, logger: logger)
        let directory = RunnerDirectory(connectedWindow: configuration.leaseDuration)
        let drain = DrainSignal(notifier: notifier)
        let runners = RunnerGateway(store: store, catalog: catalog, notifier: notifier, partials: partials, directory: directory,
                                    recorder: recorder, environment: environment, configuration: configuration, limits: runnerLimits,
                                    drain: drain, runnerTokens: runnerTokens, logger: logger)
        try await runners.installStoredRegistrations(servableBy: runnerTokens)
        try await sweeper.recoverAtStart()
        let queue = RequestQueue(store: store, catalog: catalog, notifier: notifier, dispatcher: dispatcher, executor: executor,
                                 partials: partials, finished: finished, runners: directory, drain: drain, configuration: configuration, logger: logger)
        return QueueRuntime(queue: queue, runners: runners, drain: drain, services: [executor, dispatcher, sweeper, runners],
                            notifier: notifier)
    }
}
