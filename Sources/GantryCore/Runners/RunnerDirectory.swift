import Foundation
import Synchronization

/// One runner process as this host last heard of it.
public struct RunnerInstance: Sendable, Equatable {
    /// The runner token's id.
    public var runnerID: String
    /// The id the process made up for itself.
    public var instance: String
    /// The functions it declared, with its concurrency for each.
    public var functions: [String: Int]
    /// What it said it is (`gantry-runner/0.1.0 python/3.11`), if anything.
    public var sdk: String?
    /// When this host first heard from it.
    public var firstSeen: Date
    /// When this host last heard from it (any call).
    public var lastSeen: Date
    /// Requests it holds, as of its last heartbeat or claim.
    public var inFlight: Int

    /// Requests it can run at once (the sum of its functions' concurrency).
    public var capacity: Int { functions.values.reduce(0, +) }

    /// The lease owner of its claims.
    public var leaseOwner: String { RunnerLease.owner(runnerID: runnerID, instance: instance) }
}

/// Lease owners and tokens of runner claims. A claim is owned by `runner:<token id>:<instance>`; its lease token is
/// `<attempt>:<instance>`, so with the caller's token id it names the full fence of one attempt.
public enum RunnerLease {
    /// The prefix of every runner-owned lease (rescue at start-up spares them: runners outlive a host restart).
    public static let ownerPrefix = "runner:"

    /// The lease owner of an instance's claims.
    public static func owner(runnerID: String, instance: String) -> String { "\(ownerPrefix)\(runnerID):\(instance)" }

    /// The lease token a runner gets with a claimed attempt.
    public static func token(attempt: Int, instance: String) -> String { "\(attempt):\(instance)" }

    /// The fence a lease token names for a caller holding token `runnerID`, or nil when it is malformed.
    public static func fence(requestID: String, token: String, runnerID: String) -> LeaseFence? {
        guard let colon = token.firstIndex(of: ":"), let attempt = Int(token[..<colon]), attempt > 0 else { return nil }
        let instance = String(token[token.index(after: colon)...])
        guard RunnerToken.isValidID(instance) else { return nil }
        return LeaseFence(requestID: requestID, attempt: attempt, owner: owner(runnerID: runnerID, instance: instance))
    }
}

/// The runner processes this host has heard from, and the cancels waiting to reach them. In memory: instances
/// announce themselves on every call, so a restarted host knows them again within one heartbeat.
final class RunnerDirectory: Sendable {
    private struct State {
        var instances: [String: RunnerInstance] = [:]
        /// Request ids whose cancel arrived for a lease owner, until its next heartbeat takes them.
        var cancels: [String: Set<String>] = [:]
    }

    private let state = Mutex(State())
    /// An instance unheard of for this long counts as disconnected.
    let connectedWindow: TimeInterval
    /// …and is forgotten after this long.
    let forgetAfter: TimeInterval

    /// …and at most this many are kept (the least recently heard of go first): instance ids are the runners' own.
    let maxInstances: Int

    init(connectedWindow: TimeInterval, forgetAfter: TimeInterval = 600, maxInstances: Int = 4_096) {
        self.connectedWindow = connectedWindow
        self.forgetAfter = forgetAfter
        self.maxInstances = maxInstances
    }

    /// Records a call from an instance; `functions`, `sdk` and `inFlight` replace what was known when given.
    func seen(runnerID: String, instance: String, functions: [String: Int]? = nil, sdk: String? = nil, inFlight: Int? = nil, now: Date) {
        let key = RunnerLease.owner(runnerID: runnerID, instance: instance)
        state.withLock { state in
            var entry = state.instances[key] ?? RunnerInstance(runnerID: runnerID, instance: instance, functions: [:], sdk: nil,
                                                                firstSeen: now, lastSeen: now, inFlight: 0)
            entry.lastSeen = now
            if let functions { entry.functions.merge(functions) { _, new in new } }
            if let sdk { entry.sdk = sdk }
            if let inFlight { entry.inFlight = inFlight }
            let isNew = state.instances[key] == nil
            state.instances[key] = entry
            // Forgetting is amortised: a pass when an instance appears, not on every call of a known one.
            guard isNew else { return }
            state.instances = state.instances.filter { now.timeIntervalSince($0.value.lastSeen) <= forgetAfter }
            if state.instances.count > maxInstances {
                let oldest = state.instances.values.sorted { $0.lastSeen < $1.lastSeen }.prefix(state.instances.count - maxInstances)
                for instance in oldest { state.instances.removeValue(forKey: instance.leaseOwner) }
            }
            // Cancels noted for owners that are gone will never be taken.
            state.cancels = state.cancels.filter { state.instances[$0.key] != nil }
        }
    }

    /// Every instance heard from within `forgetAfter`, with whether it counts as connected.
    func instances(now: Date) -> [(instance: RunnerInstance, connected: Bool)] {
        state.withLock { state in
            state.instances.values.sorted { ($0.runnerID, $0.instance) < ($1.runnerID, $1.instance) }
                .filter { now.timeIntervalSince($0.lastSeen) <= forgetAfter }
                .map { ($0, now.timeIntervalSince($0.lastSeen) <= connectedWindow) }
        }
    }

    /// How many connected instances declared `functionID`.
    func servingCount(_ functionID: String, now: Date) -> Int {
        state.withLock { state in
            state.instances.values.filter { $0.functions[functionID] != nil && now.timeIntervalSince($0.lastSeen) <= connectedWindow }.count
        }
    }

    /// Notes a cancel for a request leased to `owner`, for that owner's next (or waiting) heartbeat.
    func noteCancel(owner: String, requestID: String) {
        state.withLock { state in
            var pending = state.cancels[owner, default: []]
            // Bounded: an owner that never heartbeats again cannot grow this without end.
            if pending.count < 10_000 { pending.insert(requestID) }
            state.cancels[owner] = pending
        }
    }

    /// Takes the cancels noted for `owner`.
    func takeCancels(owner: String) -> Set<String> {
        state.withLock { $0.cancels.removeValue(forKey: owner) ?? [] }
    }
}
