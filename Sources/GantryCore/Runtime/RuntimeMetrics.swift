import Foundation
import Metrics

/// The runtime's metric handles, made once per function and state and then reused: looking a handle up in the
/// metrics backend on every request costs a lock and a dictionary walk on the hot path.
///
/// - `gantry_requests_submitted_total{function}`
/// - `gantry_requests_total{function,state}` — requests that reached a terminal state
/// - `gantry_run_duration_seconds{function}` — time a run took
/// - `gantry_attempts_retried_total{function}` — attempts after the first that began (work claimed again)
/// - `gantry_leases_lost_total{function}` — runs in this process whose lease was taken while they still ran
public final class RuntimeMetrics: @unchecked Sendable {
    /// The process-wide instance (metrics backends are process-wide too).
    public static let shared = RuntimeMetrics()

    private let lock = NSLock()
    private var counters: [String: Counter] = [:]
    private var timers: [String: Metrics.Timer] = [:]

    public func submitted(_ function: String) -> Counter {
        counter("submitted|\(function)") { Counter(label: "gantry_requests_submitted_total", dimensions: [("function", function)]) }
    }

    public func finished(_ function: String, _ state: RequestState) -> Counter {
        counter("finished|\(function)|\(state.rawValue)") {
            Counter(label: "gantry_requests_total", dimensions: [("function", function), ("state", state.rawValue)])
        }
    }

    public func retriedAttempt(_ function: String) -> Counter {
        counter("retried|\(function)") { Counter(label: "gantry_attempts_retried_total", dimensions: [("function", function)]) }
    }

    public func leaseLost(_ function: String) -> Counter {
        counter("leaseLost|\(function)") { Counter(label: "gantry_leases_lost_total", dimensions: [("function", function)]) }
    }

    public func runDuration(_ function: String) -> Metrics.Timer {
        lock.withLock {
            if let timer = timers[function] { return timer }
            let timer = Metrics.Timer(label: "gantry_run_duration_seconds", dimensions: [("function", function)], preferredDisplayUnit: .seconds)
            timers[function] = timer
            return timer
        }
    }

    private func counter(_ key: String, make: () -> Counter) -> Counter {
        lock.withLock {
            if let counter = counters[key] { return counter }
            let counter = make()
            counters[key] = counter
            return counter
        }
    }
}
