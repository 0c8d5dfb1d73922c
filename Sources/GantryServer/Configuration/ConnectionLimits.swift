import Foundation
import GantryCore

/// What one TCP connection may cost the host: how long it may take to send a request head, how slowly it may send
/// a body, how long it may sit idle between requests or refuse to read a response, and how many connections may be
/// open at once, in all and from one client address.
///
/// Defaults (one place):
///
/// | setting | default | what happens past it |
/// |---|---|---|
/// | `headerTimeout` | 30 s | a request head not complete 30 s after its first byte (or after connect): closed |
/// | `bodyInterval` / `bodyMinimumBytes` | 30 s / 16 KiB | a body sending less than 16 KiB in any 30 s window: closed |
/// | `idleTimeout` | 60 s | a keep-alive connection with no request for 60 s: closed |
/// | `sendTimeout` | 60 s | a client that reads none of its response for 60 s: closed |
/// | `maxConnections` | 4,096 (at most the descriptor limit less a reserve) | further connections wait in the kernel's backlog |
/// | `maxConnectionsPerClient` | 1,024 (0: no limit) | further connections from that address are closed at once |
///
/// A request being answered (a long poll, a synchronous run, a status stream) has no time limit here: the routes
/// bound their own waits.
public struct ConnectionLimits: Sendable, Equatable {
    public var headerTimeout: Double = 30
    public var bodyInterval: Double = 30
    public var bodyMinimumBytes: Int = 16 * 1024
    public var idleTimeout: Double = 60
    public var sendTimeout: Double = 60
    public var maxConnections: Int = 4_096
    /// 0 turns the per-address limit off (behind a load balancer every connection has the balancer's address).
    public var maxConnectionsPerClient: Int = 1_024
    /// Descriptors kept back from connections for the store, outbound fetches, webhooks and files.
    public var descriptorReserve: Int = 64

    public init() {}

    /// Checks the values; the message names the flag.
    public func validate() throws {
        for (name, value) in [("--header-timeout", headerTimeout), ("--body-timeout", bodyInterval),
                              ("--idle-timeout", idleTimeout), ("--send-timeout", sendTimeout)] {
            guard value.isFinite, value >= 0.1, value <= 86_400 else {
                throw ConfigurationError("\(name) must be 0.1 to 86400 seconds (got \(value))")
            }
        }
        if bodyMinimumBytes < 1 { throw ConfigurationError("--body-min-bytes must be at least 1") }
        if maxConnections < 1 { throw ConfigurationError("--max-connections must be at least 1") }
        if maxConnectionsPerClient < 0 { throw ConfigurationError("--max-connections-per-client must be 0 (no limit) or more") }
    }

    /// The connection cap actually used: `maxConnections`, lowered so connections can never take the descriptors
    /// the rest of the process needs (`softLimit` is the process's `RLIMIT_NOFILE`).
    public func effectiveMaxConnections(descriptorLimit softLimit: Int) -> Int {
        let reserve = max(descriptorReserve, softLimit / 8)
        return max(1, min(maxConnections, softLimit - reserve))
    }
}
