import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Signing
import Synchronization

/// What a webhook POST came to, as the transport (the server's egress client) reports it.
public enum WebhookSendResult: Sendable {
    /// The receiver answered with this status and headers.
    case response(status: Int, headers: [(name: String, value: String)])
    /// No answer (DNS, connect, timeout, reset, cancelled).
    case failed(String)
    /// The egress policy refused the destination after resolving it.
    case refused(String)
}

/// Sends one webhook POST: no redirects followed, the egress policy applied, `timeout` covering the whole exchange.
public protocol WebhookTransport: Sendable {
    func post(url: String, headers: [(String, String)], body: Data, timeout: TimeInterval) async -> WebhookSendResult
}

/// Delivers the webhook outbox: claims due deliveries, signs and POSTs them with bounded concurrency in all and a
/// window per host that adapts to how fast it answers (`HostWindows`), records each attempt (request logs, metrics, the outbox row) and schedules the next by `WebhookPolicy`.
public final class WebhookDispatcher: Service, Sendable {
    let store: any JobStore
    let transport: any WebhookTransport
    let keys: SigningKeyRing
    let policy: WebhookPolicy
    let owner: String
    let logger: Logger
    let now: @Sendable () -> Date
    let random: @Sendable () -> Double
    /// Attempts in flight per host, and each host's window (see `HostWindows`).
    private let hosts: Mutex<HostWindows>
    /// Wakes the claim loop when an attempt ends (a slot is free) instead of letting it sleep out the poll interval.
    private let wakeups = ChangeNotifier()
    private static let slotFreed = "webhook-slot-freed"

    public init(
        store: any JobStore, transport: any WebhookTransport, keys: SigningKeyRing, policy: WebhookPolicy, owner: String,
        logger: Logger, now: @escaping @Sendable () -> Date = { Date() },
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.store = store
        self.transport = transport
        self.keys = keys
        self.policy = policy
        self.hosts = Mutex(HostWindows(policy: policy))
        self.owner = owner
        self.logger = logger
        self.now = now
        self.random = random
    }

    /// Gives back every claim a previous process left (the single-process host calls this at start-up, so a
    /// delivery interrupted by a crash is attempted again at once).
    public func recoverAtStart() async throws {
        try await store.webhookRelease(WebhookReleaseParams())
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                // Subscribed before claiming, so an attempt that ends meanwhile still wakes the wait below.
                let wakeup = wakeups.subscribe(Self.slotFreed)
                do {
                    for delivery in try await claimBatch() {
                        group.addTask { await self.attempt(delivery) }
                    }
                } catch {
                    logger.error("webhook claim failed", metadata: ["error": "\(error)"])
                }
                try? await cancelWhenGracefulShutdown { await wakeup.wait(timeout: .seconds(self.policy.pollInterval)) }
            }
            // In-flight attempts are cancelled; each gives its claim back without counting an attempt.
            group.cancelAll()
        }
    }

    /// Claims what the free slots allow, skipping full hosts; a batch that overfills a host gives the surplus back.
    func claimBatch() async throws -> [WebhookDelivery] {
        let (free, fullHosts) = hosts.withLock { ($0.policy.concurrency - $0.total, $0.fullHosts) }
        guard free > 0 else { return [] }
        let claimed = try await store.webhookClaimDue(WebhookClaimParams(
            owner: owner, now: now(), leaseDuration: policy.leaseDuration, limit: free, excludingHosts: fullHosts))
        var accepted: [WebhookDelivery] = []
        var surplus: [String] = []
        hosts.withLock { hosts in
            for delivery in claimed {
                if hosts.take(delivery.host) { accepted.append(delivery) } else { surplus.append(delivery.requestID) }
            }
        }
        if !surplus.isEmpty { try await store.webhookRelease(WebhookReleaseParams(requestIDs: surplus, owner: owner)) }
        return accepted
    }

    /// One attempt of one claimed delivery, start to record.
    func attempt(_ delivery: WebhookDelivery) async {
        var answer = HostWindows.Answer.neutral
        defer {
            hosts.withLock { $0.finish(delivery.host, answer) }
            wakeups.publish(Self.slotFreed)
        }
        let number = delivery.attempts + 1
        do {
            guard let record = try await store.requestGet(id: delivery.requestID) else {
                try await record(delivery, number, .failed, status: nil, error: "the request no longer exists", log: nil)
                return
            }
            let body = WebhookPayload.body(for: record, format: delivery.format)
            let started = ContinuousClock.now
            let result = await transport.post(url: delivery.url, headers: signedHeaders(delivery, body: body), body: body, timeout: policy.timeout)
            let elapsed = started.duration(to: .now)
            answer = HostWindows.Answer(result, elapsed: elapsed, fastAnswer: policy.fastAnswer)
            if Task.isCancelled, case .failed = result {
                // Shutdown interrupted the attempt before an answer: give the claim back, no attempt counted.
                try await Task.detached { try await self.store.webhookRelease(WebhookReleaseParams(requestIDs: [delivery.requestID], owner: self.owner)) }.value
                return
            }
            // An answer that arrived is recorded even during shutdown (a delivered webhook must not be sent again).
            try await Task.detached { try await self.conclude(delivery, number, result, elapsed: elapsed) }.value
        } catch {
            logger.error("webhook attempt could not be recorded", metadata: ["request_id": "\(delivery.requestID)", "error": "\(error)"])
        }
    }

    private func conclude(_ delivery: WebhookDelivery, _ number: Int, _ result: WebhookSendResult, elapsed: Duration) async throws {
        let outcome: WebhookPolicy.Outcome
        var status: Int?
        let what: String
        switch result {
        case .response(let code, let headers):
            status = code
            let retryAfter = headers.first { $0.name.lowercased() == "retry-after" }.flatMap { WebhookPolicy.retryAfter($0.value, now: now()) }
            outcome = .status(code, retryAfter: retryAfter)
            what = "HTTP \(code)"
        case .failed(let why):
            outcome = .transportFailure(why)
            what = "no answer (\(why))"
        case .refused(let why):
            outcome = .refused(why)
            what = "refused by the egress policy (\(why))"
        }
        let decision = policy.decide(attempt: number, outcome: outcome, random: random())
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let prefix = "webhook attempt \(number) of \(policy.maxAttempts) to \(delivery.host) (\(String(format: "%.2f", seconds)) s): \(what)"
        switch decision {
        case .delivered:
            try await record(delivery, number, .delivered, status: status, error: nil, log: (prefix + "; delivered", .info))
            Counter(label: "gantry_webhook_attempts_total", dimensions: [("outcome", "delivered")]).increment()
        case .retry(let after):
            try await record(delivery, number, .retry(at: now().addingTimeInterval(after)), status: status, error: what,
                             log: (prefix + String(format: "; next attempt in %.1f s", after), .warn))
            Counter(label: "gantry_webhook_attempts_total", dimensions: [("outcome", "retry")]).increment()
        case .giveUp(let reason):
            try await record(delivery, number, .failed, status: status, error: what,
                             log: (reason.contains("egress") ? prefix + "; giving up" : prefix + "; giving up: \(reason)", .error))
            Counter(label: "gantry_webhook_attempts_total", dimensions: [("outcome", "failed")]).increment()
        }
    }

    private func record(
        _ delivery: WebhookDelivery, _ number: Int, _ next: WebhookAttemptParams.Next, status: Int?, error: String?,
        log: (String, LogEntry.Level)?
    ) async throws {
        let at = now()
        let line = log.map { LogEntry(message: $0.0, level: $0.1, source: "GANTRY", timestamp: at) }
        // The attempt and its log line are one write.
        let won = try await store.webhookRecordAttempt(WebhookAttemptParams(
            requestID: delivery.requestID, owner: owner, attempt: number, next: next, status: status, error: error, now: at, log: line))
        guard won else {
            logger.warning("webhook claim was taken over; attempt not recorded", metadata: ["request_id": "\(delivery.requestID)"])
            return
        }
        if let line { logger.info("\(line.message)", metadata: ["request_id": "\(delivery.requestID)"]) }
        if next == .delivered || next == .failed {
            Counter(label: "gantry_webhook_deliveries_total", dimensions: [("result", next == .delivered ? "delivered" : "failed")]).increment()
        }
    }

    /// fal's signature headers: Ed25519 over `request_id \n user_id \n timestamp \n sha256-hex(body)`.
    func signedHeaders(_ delivery: WebhookDelivery, body: Data) -> [(String, String)] {
        let timestamp = String(Int(now().timeIntervalSince1970))
        let message = "\(delivery.requestID)\n\(delivery.tenant)\n\(timestamp)\n\(SHA256.hex(body))"
        let signature = keys.signingKey(now: now()).privateKey.sign(Array(message.utf8))
        return [
            ("Content-Type", "application/json"), ("User-Agent", "gantry-webhook/1"),
            ("X-Fal-Webhook-Request-Id", delivery.requestID), ("X-Fal-Webhook-User-Id", delivery.tenant),
            ("X-Fal-Webhook-Timestamp", timestamp), ("X-Fal-Webhook-Signature", Hex.encode(signature)),
        ]
    }
}
