import Foundation

/// When and how often a webhook is attempted, and what each outcome means. Pure: the dispatcher feeds it the
/// outcome of an attempt and a random number, and it answers with the next step.
///
/// Defaults follow fal's documented promise (10 attempts over about 2 hours): the gap after attempt n is
/// `initialDelay · 2^(n-1)` capped at `maxDelay`, ±`jitter` (14 s, 28 s, … 3,600 s: ≈ 2 h in all).
/// Only 2xx counts as delivered; a 3xx is a failure (redirects are never followed); 410 Gone stops at once;
/// `Retry-After` on 429 and 503 is honoured (up to `maxDelay`).
public struct WebhookPolicy: Sendable, Equatable {
    public var maxAttempts: Int
    public var initialDelay: TimeInterval
    public var maxDelay: TimeInterval
    /// Fraction by which each gap is randomly stretched or shrunk (0.2 = ±20 %).
    public var jitter: Double
    /// Seconds one attempt may take: DNS, connect, send and the reply.
    public var timeout: TimeInterval
    /// Attempts in flight to one host at first, and always allowed: a slow or dead receiver cannot hold up the
    /// others. A host that answers fast earns more, up to `perHostMaxConcurrency` (see `HostWindows`).
    public var perHostConcurrency: Int
    /// The most attempts in flight to one host that answers fast.
    public var perHostMaxConcurrency: Int
    /// Answers within this many seconds count as fast.
    public var fastAnswer: TimeInterval
    /// Attempts in flight in all.
    public var concurrency: Int
    /// How often due deliveries are looked for.
    public var pollInterval: TimeInterval

    public init(
        maxAttempts: Int = 10, initialDelay: TimeInterval = 14, maxDelay: TimeInterval = 3_600, jitter: Double = 0.2,
        timeout: TimeInterval = 15, perHostConcurrency: Int = 4, perHostMaxConcurrency: Int = 32, fastAnswer: TimeInterval = 1,
        concurrency: Int = 32, pollInterval: TimeInterval = 0.25
    ) {
        self.perHostMaxConcurrency = perHostMaxConcurrency
        self.fastAnswer = fastAnswer
        self.maxAttempts = maxAttempts
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.jitter = jitter
        self.timeout = timeout
        self.perHostConcurrency = perHostConcurrency
        self.concurrency = concurrency
        self.pollInterval = pollInterval
    }

    /// Checks the values; the message names the setting.
    public func validate() throws {
        if maxAttempts < 1 { throw ConfigurationError("--webhook-attempts must be at least 1") }
        if initialDelay <= 0 || maxDelay < initialDelay { throw ConfigurationError("--webhook-initial-delay must be positive and at most --webhook-max-delay") }
        if !(0..<1).contains(jitter) { throw ConfigurationError("webhook jitter must be in 0..<1") }
        if timeout <= 0 { throw ConfigurationError("--webhook-timeout must be positive") }
        if perHostConcurrency < 1 || concurrency < perHostConcurrency { throw ConfigurationError("--webhook-per-host must be at least 1 and at most the total concurrency") }
        if perHostMaxConcurrency < perHostConcurrency || perHostMaxConcurrency > concurrency {
            throw ConfigurationError("--webhook-per-host-max must be at least --webhook-per-host and at most --webhook-concurrency")
        }
        if fastAnswer <= 0 { throw ConfigurationError("webhook fast-answer threshold must be positive") }
        if pollInterval <= 0 { throw ConfigurationError("webhook poll interval must be positive") }
    }

    /// How long a claim holds: an attempt's timeout plus a margin, after which another sender may take it over.
    public var leaseDuration: TimeInterval { timeout + 30 }

    /// What an attempt came to.
    public enum Outcome: Sendable, Equatable {
        /// The receiver answered; `retryAfter` is its `Retry-After` in seconds, if any.
        case status(Int, retryAfter: TimeInterval?)
        /// No answer: DNS, connect, timeout, reset.
        case transportFailure(String)
        /// The egress policy refused the destination (after resolving it).
        case refused(String)
    }

    /// The step after an attempt.
    public enum Decision: Sendable, Equatable {
        case delivered
        case retry(after: TimeInterval)
        case giveUp(reason: String)
    }

    /// Decides after attempt number `attempt` (1-based). `random` is uniform in 0..<1 (the jitter's draw).
    public func decide(attempt: Int, outcome: Outcome, random: Double) -> Decision {
        switch outcome {
        case .status(let code, _) where (200..<300).contains(code):
            return .delivered
        case .status(410, _):
            return .giveUp(reason: "the receiver answered 410 Gone")
        case .refused(let why):
            return .giveUp(reason: "the destination is refused by the egress policy: \(why)")
        default:
            break
        }
        guard attempt < maxAttempts else { return .giveUp(reason: "no success after \(attempt) attempt(s)") }
        var delay = backoff(afterAttempt: attempt, random: random)
        if case .status(let code, let retryAfter?) = outcome, code == 429 || code == 503 {
            delay = max(delay, min(retryAfter, maxDelay))
        }
        return .retry(after: delay)
    }

    /// The gap between attempt `attempt` and the next one, jitter applied.
    public func backoff(afterAttempt attempt: Int, random: Double) -> TimeInterval {
        let exponent = Double(min(max(attempt - 1, 0), 62))
        let base = min(initialDelay * pow(2, exponent), maxDelay)
        return base * (1 + jitter * (2 * random - 1))
    }

    /// Parses a `Retry-After` value: delta-seconds, or an HTTP-date relative to `now`. Nil when unparseable.
    public static func retryAfter(_ value: String?, now: Date) -> TimeInterval? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int(value) { return seconds >= 0 ? TimeInterval(seconds) : nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }
}
