import Foundation
import Logging
import ServiceLifecycle

/// The host side of the runner protocol (`docs/runner-protocol.md`), without HTTP: registration, long-poll claims,
/// heartbeats that carry cancellations, events, files and results, each fenced by the attempt's lease. A runner is
/// one more executor behind the same queue: its claims are leases like the dispatcher's, a silent runner is a lost
/// lease the sweeper rescues, and its outcomes go through the same `AttemptRecorder`.
///
/// As a `Service` it ends runner attempts that overran their function's timeout, and on shutdown answers waiting
/// long polls at once.
public final class RunnerGateway: Service, Sendable {
    /// Limits of the protocol.
    public struct Limits: Sendable {
        /// Longest claim long poll.
        public var maxClaimWait: TimeInterval = 30
        /// Most jobs one claim returns.
        public var maxClaimBatch = 256
        /// Most functions one claim names.
        public var maxClaimFunctions = 64
        /// Most requests one heartbeat (or one batched result post) lists.
        public var maxInFlight = 1_024
        /// Longest message of one log line (longer ones are cut).
        public var maxLogMessageBytes = 16 * 1024
        /// Largest partial output.
        public var maxPartialBytes = 1 << 20
        /// Seconds past its deadline an attempt may still report before the host ends it with a timeout.
        public var timeoutGrace: TimeInterval = 2

        public init() {}
    }

    let store: any JobStore
    let catalog: FunctionCatalog
    let notifier: ChangeNotifier
    let partials: PartialOutputs
    let directory: RunnerDirectory
    let recorder: AttemptRecorder
    let environment: RunEnvironment
    let configuration: DispatcherConfiguration
    public let limits: Limits
    let logger: Logger
    let attempts = AttemptTable()
    let drain: DrainSignal
    /// The tokens configured for runners: a stored registration none of them may serve is not installed.
    let runnerTokens: [RunnerToken]

    init(store: any JobStore, catalog: FunctionCatalog, notifier: ChangeNotifier, partials: PartialOutputs, directory: RunnerDirectory,
         recorder: AttemptRecorder, environment: RunEnvironment, configuration: DispatcherConfiguration, limits: Limits,
         drain: DrainSignal, runnerTokens: [RunnerToken] = [], logger: Logger) {
        self.drain = drain
        self.runnerTokens = runnerTokens
        self.store = store
        self.catalog = catalog
        self.notifier = notifier
        self.partials = partials
        self.directory = directory
        self.recorder = recorder
        self.environment = environment
        self.configuration = configuration
        self.limits = limits
        self.logger = logger
    }

    /// Lease length of runner claims.
    public var leaseSeconds: TimeInterval { configuration.leaseDuration }
    /// The longest heartbeat wait: a third of the lease, so a looping runner renews well before expiry.
    public var maxHeartbeatWait: TimeInterval { configuration.leaseDuration / 3 }

    var isDraining: Bool { drain.isDraining }

    /// Ends overdue attempts once a sweep interval until this service's own shutdown signal (the drain that answers
    /// long polls begins earlier, through `DrainSignal`; returning then would end the service group early).
    public func run() async throws {
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                guard (try? await Task.sleep(for: .seconds(self.configuration.sweepInterval))) != nil else { return }
                await self.endOverdueAttempts()
                self.attempts.prune(olderThan: self.configuration.now().addingTimeInterval(-2 * self.configuration.leaseDuration - 600))
            }
        } onGracefulShutdown: {
            self.drain.begin()
        }
    }

    /// The host's clock (tests inject their own).
    public func now() -> Date { configuration.now() }

    /// Every instance heard from recently, and whether it counts as connected.
    public func instances() -> [(instance: RunnerInstance, connected: Bool)] {
        directory.instances(now: configuration.now())
    }

    /// How many connected instances serve `functionID`.
    public func servingCount(_ functionID: String) -> Int {
        directory.servingCount(functionID, now: configuration.now())
    }

    // MARK: Register

    /// What a registration did to one function.
    public struct Registered: Sendable, Equatable {
        public var functionID: String
        /// The declaration is new or differs from the stored one.
        public var changed: Bool
        /// It takes the place of a built-in function.
        public var replacesBuiltin: Bool
    }

    /// Persists and installs the declared functions (all checked before any is stored).
    public func register(token: RunnerToken, instance: String, sdk: String?, functions: [JSONValue]) async throws -> [Registered] {
        try Self.checkInstance(instance)
        guard !functions.isEmpty else { throw RunnerError.field([.string("functions")], "Declare at least one function", type: "too_short") }
        var declarations: [RunnerFunctionDeclaration] = []
        for (index, json) in functions.enumerated() {
            let declaration = try RunnerFunctionDeclaration(json: json, loc: [.string("functions"), .number(Double(index))])
            guard token.allows(declaration.id) else { throw RunnerError.forbidden(declaration.id) }
            guard !declarations.contains(where: { $0.id == declaration.id }) else {
                throw RunnerError.field([.string("functions"), .number(Double(index)), .string("id")], "Declared twice", type: "value_error")
            }
            declarations.append(declaration)
        }
        let now = configuration.now()
        var results: [Registered] = []
        for declaration in declarations {
            let changed = try await store.functionRegistrationUpsert(FunctionRegistration(
                functionID: declaration.id, declaration: declaration.json.encoded(), registeredBy: token.id, updatedAt: now))
            let replacesBuiltin = catalog.install(declaration.registeredFunction)
            if changed {
                logger.notice("runner function registered", metadata: [
                    "function": "\(declaration.id)", "runner": "\(token.id)", "replaces_builtin": "\(replacesBuiltin)"])
            }
            results.append(Registered(functionID: declaration.id, changed: changed, replacesBuiltin: replacesBuiltin))
        }
        notifier.publish(NotifierKeys.catalog)
        directory.seen(runnerID: token.id, instance: instance, functions: Dictionary(declarations.map { ($0.id, $0.concurrency) }) { a, _ in a },
                       sdk: sdk, now: now)
        return results
    }

    /// Removes a runner function (a built-in one with its id serves again); 404 when none was registered. Requests
    /// already queued stay queued (a later registration serves them).
    public func unregister(token: RunnerToken, functionID: String) async throws {
        guard token.allows(functionID) else { throw RunnerError.forbidden(functionID) }
        guard try await store.functionRegistrationDelete(functionID: functionID) else { throw RunnerError.functionNotFound(functionID) }
        catalog.remove(functionID)
        notifier.publish(NotifierKeys.catalog)
        logger.notice("runner function unregistered", metadata: ["function": "\(functionID)", "runner": "\(token.id)"])
    }

    /// Installs the registrations a previous run of the host stored (at start-up, before serving), those that a
    /// configured runner token may still serve: without one, nothing could ever claim the function's requests (and a
    /// built-in id it took over would stay taken).
    func installStoredRegistrations(servableBy tokens: [RunnerToken]) async throws {
        for registration in try await store.functionRegistrationList() {
            guard tokens.contains(where: { $0.allows(registration.functionID) }) else {
                logger.notice("a stored runner function is not installed: no runner token may serve it",
                              metadata: ["function": "\(registration.functionID)"])
                continue
            }
            do {
                let json = try JSONValue.parse(registration.declaration)
                catalog.install(try RunnerFunctionDeclaration(json: json, loc: []).registeredFunction)
            } catch {
                logger.error("a stored runner function registration cannot be read; skipped",
                             metadata: ["function": "\(registration.functionID)", "error": "\(error)"])
            }
        }
    }

    /// Brings the catalog in line with the stored registrations: what another node of a cluster registered is
    /// installed, what it unregistered is removed. Run when the cluster announces a catalog change.
    public func syncStoredRegistrations() async throws {
        let stored = Set(try await store.functionRegistrationList().map(\.functionID))
        for id in catalog.runnerFunctionIDs where !stored.contains(id) { catalog.remove(id) }
        try await installStoredRegistrations(servableBy: runnerTokens)
        notifier.publish(NotifierKeys.catalog)
    }

    static func checkInstance(_ instance: String) throws(RunnerError) {
        guard RunnerToken.isValidID(instance) else {
            throw RunnerError.field([.string("instance")], "Must be 1–64 letters, digits, '.', '_' or '-'", type: "value_error")
        }
    }
}
