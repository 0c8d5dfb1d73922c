import Foundation

/// One leader per cluster for work that should run once, not once per node (the sweeper's rescue, expiry and
/// retention). A store that nodes share conforms; with an embedded store the one process always leads.
///
/// Leadership is a lease: the leader renews it more often than it expires, and when the leader stops (killed, cut
/// off) another node takes it once it has expired. The lease is kept on the store's own clock, so the nodes'
/// clocks may disagree.
public protocol LeaderElection: Sendable {
    /// Takes `name` for `owner` if it is free or expired, or renews it if `owner` holds it, for `duration` seconds;
    /// true when `owner` leads afterwards.
    func leaderAcquire(name: String, owner: String, duration: TimeInterval) async throws -> Bool
    /// Gives `name` up if `owner` holds it, so another node takes over without waiting for the lease to expire.
    func leaderRelease(name: String, owner: String) async throws
}
