import Foundation
@testable import GantryCore
import Logging
import Testing

/// Polls `condition` until it holds or `timeout` passes; true when it held. Used instead of sleeping for a state.
@discardableResult
func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return try await condition()
}

/// A clock tests move by hand.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date

    init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { current = start }

    var now: Date { lock.withLock { current } }
    func advance(_ seconds: TimeInterval) { lock.withLock { current.addTimeInterval(seconds) } }
}

/// A latch a test opens to let blocked functions finish; waiting on it is cancellable.
final class Gate: @unchecked Sendable {
    private let lock = NSLock()
    private var isOpen = false

    func open() { lock.withLock { isOpen = true } }

    func wait() async throws {
        while !lock.withLock({ isOpen }) { try await Task.sleep(for: .milliseconds(2)) }
    }
}

/// What test functions saw: the order runs started, how many ran at once, and whether one was cancelled.
final class Probe: @unchecked Sendable {
    private let lock = NSLock()
    private var _started: [String] = []
    private var current = 0
    private var _maxConcurrent = 0
    private var _cancellations = 0

    var started: [String] { lock.withLock { _started } }
    var maxConcurrent: Int { lock.withLock { _maxConcurrent } }
    var cancellations: Int { lock.withLock { _cancellations } }

    func enter(_ name: String) {
        lock.withLock {
            _started.append(name)
            current += 1
            _maxConcurrent = max(_maxConcurrent, current)
        }
    }

    func leave(cancelled: Bool) {
        lock.withLock {
            current -= 1
            if cancelled { _cancellations += 1 }
        }
    }
}

/// A test function: records its run, logs a line, optionally waits on a gate, then echoes its input or throws.
struct ProbeFunction: HostedFunction {
    let probe: Probe
    var gate: Gate?
    var error: (any Error & Sendable)?
    /// Time spent inside the run, to widen the window in which runs overlap.
    var hold: Duration?

    func run(_ input: JSONValue, context: RunContext) async throws -> JSONValue {
        probe.enter(input["name"]?.stringValue ?? "?")
        await context.log("started \(input["name"]?.stringValue ?? "?")")
        do {
            try await gate?.wait()
            if let hold { try await Task.sleep(for: hold) }
            await Task.yield()
            try Task.checkCancellation()
        } catch {
            probe.leave(cancelled: true)
            throw error
        }
        probe.leave(cancelled: false)
        if let error { throw error }
        return input
    }
}

/// A manifest with the given limits (manifests have no memberwise initialiser; they come from JSON).
func manifest(_ id: String, handler: String = "test.probe", concurrency: Int = 1, timeout: Double = 30, maxAttempts: Int = 3) -> FunctionManifest {
    let json = #"{"id":"\#(id)","handler":"\#(handler)","input_schema":"in.json","output_schema":"out.json","concurrency":\#(concurrency),"timeout_seconds":\#(timeout),"max_attempts":\#(maxAttempts)}"#
    return try! JSONDecoder().decode(FunctionManifest.self, from: Data(json.utf8))
}

/// A registered function around a handler, with an accept-anything object schema.
func registered(_ manifest: FunctionManifest, _ handler: some HostedFunction) -> RegisteredFunction {
    let schema: JSONValue = .object(["type": .string("object")])
    return RegisteredFunction(manifest: manifest, inputSchema: schema, outputSchema: schema, validator: SchemaValidator(schema: schema),
                              handler: AnyHostedFunction(handler))
}

struct NoFetcher: InputFetcher {
    func fetch(_ url: String) async throws -> FetchedInput { throw InputFetchError(code: "forbidden", message: "no fetches in tests") }
}

/// A dispatcher, sweeper and queue over one in-memory store, with short intervals and an optional clock: the
/// parts `QueueRuntime` composes, built here one by one so tests can reach each.
struct Harness {
    let store = MemoryJobStore()
    let notifier = ChangeNotifier()
    let registry: FunctionRegistry
    let catalog: FunctionCatalog
    let configuration: DispatcherConfiguration
    let executor: RunExecutor
    let dispatcher: Dispatcher
    let sweeper: Sweeper
    let runners: RunnerGateway
    let queue: RequestQueue

    init(_ functions: [RegisteredFunction], shutdownGrace: TimeInterval = 30, leaseDuration: TimeInterval = 5, clock: TestClock? = nil) {
        registry = FunctionRegistry(functions: functions)
        catalog = FunctionCatalog(builtins: registry)
        var configuration = DispatcherConfiguration(
            owner: "test-owner", leaseDuration: leaseDuration, heartbeatInterval: 0.05, pollInterval: 0.05,
            shutdownGrace: shutdownGrace, sweepInterval: 0.05)
        if let clock { configuration.now = { clock.now } }
        self.configuration = configuration
        var logger = Logger(label: "gantry-core-tests")
        logger.logLevel = .critical
        let environment = RunEnvironment(fetcher: NoFetcher(), files: MemoryFileStore(), publicURL: PublicURL("http://files.test"))
        let partials = PartialOutputs(notifier: notifier, now: configuration.now)
        executor = RunExecutor(functions: functions, environment: environment, tick: configuration.tick, now: configuration.now, logger: logger)
        let finished = FinishedRecords(retention: configuration.retention, now: configuration.now)
        let recorder = AttemptRecorder(store: store, notifier: notifier, partials: partials, finished: finished, now: configuration.now)
        dispatcher = Dispatcher(store: store, catalog: catalog, notifier: notifier, executor: executor, recorder: recorder, partials: partials,
                                configuration: configuration, logger: logger)
        sweeper = Sweeper(store: store, notifier: notifier, configuration: configuration, logger: logger)
        let directory = RunnerDirectory(connectedWindow: configuration.leaseDuration)
        let drain = DrainSignal(notifier: notifier)
        runners = RunnerGateway(store: store, catalog: catalog, notifier: notifier, partials: partials, directory: directory, recorder: recorder,
                                environment: environment, configuration: configuration, limits: .init(), drain: drain, logger: logger)
        queue = RequestQueue(store: store, catalog: catalog, notifier: notifier, dispatcher: dispatcher, executor: executor, partials: partials,
                             finished: finished, runners: directory, drain: drain, configuration: configuration, logger: logger)
    }

    /// Submits `{"name": name}` to a function.
    func submit(_ functionID: String, _ name: String, priority: RequestPriority = .normal, startTimeout: Double? = nil) async throws -> RequestRecord {
        let function = try #require(registry.function(id: functionID))
        let admitted = try queue.admit(function, input: .object(["name": .string(name)]))
        return try await queue.submit(.init(admitted, tenant: "t", priority: priority, startTimeout: startTimeout)).record
    }

    /// Waits until the request reaches `state` and returns it.
    func waitFor(_ id: String, _ state: RequestState, timeout: Duration = .seconds(10)) async throws -> RequestRecord {
        let reached = try await eventually(timeout: timeout) { try await store.requestGet(id: id)?.state == state }
        let record = try #require(try await store.requestGet(id: id))
        try #require(reached, "request \(id) is \(record.state), expected \(state)")
        return record
    }

    /// Runs the dispatcher around `body` and cancels it afterwards.
    func withDispatcher(_ body: () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await dispatcher.run() }
            group.addTask { try await executor.run() }
            do {
                try await body()
            } catch {
                group.cancelAll()
                throw error
            }
            group.cancelAll()
            try await group.waitForAll()
        }
    }
}

/// Lets tests write `loc` paths as literals: `["body", "items", 1]`.
extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
}
