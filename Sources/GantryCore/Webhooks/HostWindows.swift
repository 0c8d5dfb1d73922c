import Foundation

/// How many webhook attempts each host may have in flight, adapted to how it answers.
///
/// A fixed per-host cap of a few attempts limits a fast receiver to a few deliveries per round trip of wall time
/// (4 in flight at 5 ms each: 800 a second, whatever the receiver could take). Each host instead gets a window
/// that starts at `WebhookPolicy.perHostConcurrency` and
/// - grows by one for every delivered answer that came within `WebhookPolicy.fastAnswer` (a receiver that keeps
///   up doubles its window every round trip, up to `perHostMaxConcurrency`);
/// - shrinks by one for a slow answer;
/// - halves on a failure that may mean overload (no answer, 429, 5xx), never below the starting window.
/// A slow or failing receiver therefore keeps the small window that protects everyone else's deliveries.
/// Windows of hosts with nothing in flight fall back to the start once there are many of them.
struct HostWindows {
    let policy: WebhookPolicy
    private(set) var inFlight: [String: Int] = [:]
    private var windows: [String: Int] = [:]

    init(policy: WebhookPolicy) {
        self.policy = policy
    }

    /// Attempts in flight in all.
    var total: Int { inFlight.values.reduce(0, +) }

    /// The host's current window.
    func window(_ host: String) -> Int { windows[host] ?? policy.perHostConcurrency }

    /// Hosts whose window is full.
    var fullHosts: Set<String> { Set(inFlight.filter { $0.value >= window($0.key) }.keys) }

    /// Takes a slot of `host` if its window has one.
    mutating func take(_ host: String) -> Bool {
        guard inFlight[host, default: 0] < window(host) else { return false }
        inFlight[host, default: 0] += 1
        return true
    }

    /// Gives `host`'s slot back and adapts its window to how the attempt went.
    mutating func finish(_ host: String, _ answer: Answer) {
        inFlight[host, default: 1] -= 1
        if inFlight[host] == 0 { inFlight[host] = nil }
        let start = policy.perHostConcurrency
        let current = window(host)
        let next = switch answer {
        case .fast: min(current + 1, policy.perHostMaxConcurrency)
        case .slow: max(current - 1, start)
        case .overloaded: max(current / 2, start)
        case .neutral: current
        }
        windows[host] = next == start ? nil : next
        if windows.count > 1_024 { windows = windows.filter { inFlight[$0.key] != nil } }
    }

    /// What an attempt says about its host's capacity.
    enum Answer: Equatable {
        /// Delivered within `fastAnswer`.
        case fast
        /// Answered, but only after `fastAnswer`.
        case slow
        /// No answer, 429 or 5xx.
        case overloaded
        /// Anything else (a 4xx, a refusal): nothing about capacity.
        case neutral

        init(_ result: WebhookSendResult, elapsed: Duration, fastAnswer: TimeInterval) {
            switch result {
            case .response(let status, _) where status == 429 || status >= 500: self = .overloaded
            case .response(let status, _) where elapsed > .seconds(fastAnswer): self = status / 100 == 2 ? .slow : .neutral
            case .response(let status, _): self = status / 100 == 2 ? .fast : .neutral
            case .failed: self = .overloaded
            case .refused: self = .neutral
            }
        }
    }
}
