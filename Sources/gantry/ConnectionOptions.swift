import ArgumentParser
import Foundation
import GantryServer

/// `gantry serve`'s connection limits (each also read from its `GANTRY_*` variable); defaults live in
/// `ConnectionLimits`.
struct ConnectionOptions: ParsableArguments {
    private static let env = ProcessInfo.processInfo.environment
    private static let defaults = ConnectionLimits()

    @Option(help: "Seconds a client may take to send a request's line and headers (env GANTRY_HEADER_TIMEOUT).")
    var headerTimeout: Double = Double(env["GANTRY_HEADER_TIMEOUT"] ?? "") ?? defaults.headerTimeout
    @Option(help: "Seconds of each window in which a request body must send --body-min-bytes (env GANTRY_BODY_TIMEOUT).")
    var bodyTimeout: Double = Double(env["GANTRY_BODY_TIMEOUT"] ?? "") ?? defaults.bodyInterval
    @Option(help: "Bytes a request body must send in every --body-timeout window (env GANTRY_BODY_MIN_BYTES).")
    var bodyMinBytes: Int = Int(env["GANTRY_BODY_MIN_BYTES"] ?? "") ?? defaults.bodyMinimumBytes
    @Option(help: "Seconds a keep-alive connection may wait for its next request (env GANTRY_IDLE_TIMEOUT).")
    var idleTimeout: Double = Double(env["GANTRY_IDLE_TIMEOUT"] ?? "") ?? defaults.idleTimeout
    @Option(help: "Seconds a client may leave its response unread (env GANTRY_SEND_TIMEOUT).")
    var sendTimeout: Double = Double(env["GANTRY_SEND_TIMEOUT"] ?? "") ?? defaults.sendTimeout
    @Option(help: "Open connections at most; lowered to fit the descriptor limit (env GANTRY_MAX_CONNECTIONS).")
    var maxConnections: Int = Int(env["GANTRY_MAX_CONNECTIONS"] ?? "") ?? defaults.maxConnections
    @Option(help: "Open connections from one client address at most, 0 for no limit (env GANTRY_MAX_CONNECTIONS_PER_CLIENT).")
    var maxConnectionsPerClient: Int = Int(env["GANTRY_MAX_CONNECTIONS_PER_CLIENT"] ?? "") ?? defaults.maxConnectionsPerClient

    func apply(to limits: inout ConnectionLimits) {
        limits.headerTimeout = headerTimeout
        limits.bodyInterval = bodyTimeout
        limits.bodyMinimumBytes = bodyMinBytes
        limits.idleTimeout = idleTimeout
        limits.sendTimeout = sendTimeout
        limits.maxConnections = maxConnections
        limits.maxConnectionsPerClient = maxConnectionsPerClient
    }
}
