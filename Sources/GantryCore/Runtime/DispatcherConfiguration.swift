import Foundation
import Signing

/// Settings of the dispatcher and sweeper. Every value has a default suited to a single-process host.
public struct DispatcherConfiguration: Sendable {
    /// Identifies this process's leases; unique per process start.
    public var owner: String
    /// How long a claim is valid without a heartbeat (default 60 s).
    public var leaseDuration: TimeInterval
    /// How often a running attempt renews its lease and checks for cancellation (default 15 s).
    public var heartbeatInterval: TimeInterval
    /// How often an idle worker looks for work that another process queued (default 1 s).
    public var pollInterval: TimeInterval
    /// How long running work may continue after SIGTERM before it is released back to the queue (default 30 s).
    public var shutdownGrace: TimeInterval
    /// How often the sweeper rescues expired leases and expires overdue requests (default 1 s).
    public var sweepInterval: TimeInterval
    /// Terminal requests older than this are deleted (default 7 days).
    public var retention: TimeInterval
    /// At start-up, treat every running request as abandoned (true for the embedded single-process host).
    public var rescueAllRunningAtStart: Bool
    /// How often execution deadlines are checked (default 0.1 s): a run overshoots its timeout by at most this.
    public var tick: TimeInterval
    /// Log lines kept per attempt; later lines are dropped with a note.
    public var maxLogLinesPerAttempt: Int
    /// The clock; tests inject their own.
    public var now: @Sendable () -> Date

    public init(
        owner: String = "gantry-\(UUID.secureRandom().uuidString.prefix(8).lowercased())", leaseDuration: TimeInterval = 60,
        heartbeatInterval: TimeInterval = 15, pollInterval: TimeInterval = 1, shutdownGrace: TimeInterval = 30,
        sweepInterval: TimeInterval = 1, retention: TimeInterval = 7 * 86_400, rescueAllRunningAtStart: Bool = true,
        tick: TimeInterval = 0.1, maxLogLinesPerAttempt: Int = 1_000, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.owner = owner
        self.leaseDuration = leaseDuration
        self.heartbeatInterval = heartbeatInterval
        self.pollInterval = pollInterval
        self.shutdownGrace = shutdownGrace
        self.sweepInterval = sweepInterval
        self.retention = retention
        self.rescueAllRunningAtStart = rescueAllRunningAtStart
        self.tick = tick
        self.maxLogLinesPerAttempt = maxLogLinesPerAttempt
        self.now = now
    }

    /// Checks the values; the message names the field.
    public func validate() throws {
        if leaseDuration <= 0 { throw ConfigurationError("leaseDuration must be positive") }
        if heartbeatInterval <= 0 || heartbeatInterval >= leaseDuration {
            throw ConfigurationError("heartbeatInterval must be positive and shorter than leaseDuration")
        }
        if pollInterval <= 0 || sweepInterval <= 0 || tick <= 0 { throw ConfigurationError("pollInterval, sweepInterval and tick must be positive") }
        if shutdownGrace < 0 || retention <= 0 { throw ConfigurationError("shutdownGrace must be >= 0 and retention positive") }
    }
}
