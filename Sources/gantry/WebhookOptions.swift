import ArgumentParser
import Foundation
import GantryCore

/// `gantry serve`'s webhook delivery flags (each also read from its `GANTRY_WEBHOOK_*` variable).
struct WebhookOptions: ParsableArguments {
    private static let env = ProcessInfo.processInfo.environment
    private static let defaults = WebhookPolicy()

    @Option(help: "Attempts per webhook, the first included (env GANTRY_WEBHOOK_ATTEMPTS).")
    var webhookAttempts: Int = Int(env["GANTRY_WEBHOOK_ATTEMPTS"] ?? "") ?? defaults.maxAttempts
    @Option(help: "Seconds before the second attempt; the gap doubles after each (env GANTRY_WEBHOOK_INITIAL_DELAY).")
    var webhookInitialDelay: Double = Double(env["GANTRY_WEBHOOK_INITIAL_DELAY"] ?? "") ?? defaults.initialDelay
    @Option(help: "Longest gap between attempts, seconds (env GANTRY_WEBHOOK_MAX_DELAY).")
    var webhookMaxDelay: Double = Double(env["GANTRY_WEBHOOK_MAX_DELAY"] ?? "") ?? defaults.maxDelay
    @Option(help: "Seconds one attempt may take (env GANTRY_WEBHOOK_TIMEOUT).")
    var webhookTimeout: Double = Double(env["GANTRY_WEBHOOK_TIMEOUT"] ?? "") ?? defaults.timeout
    @Option(help: "Attempts in flight to one host at first; a host that answers within a second earns more (env GANTRY_WEBHOOK_PER_HOST).")
    var webhookPerHost: Int = Int(env["GANTRY_WEBHOOK_PER_HOST"] ?? "") ?? defaults.perHostConcurrency
    @Option(help: "Attempts in flight to one fast host at most; equal to --webhook-per-host turns adaptation off; default: --webhook-concurrency (env GANTRY_WEBHOOK_PER_HOST_MAX).")
    var webhookPerHostMax: Int? = Int(env["GANTRY_WEBHOOK_PER_HOST_MAX"] ?? "")
    @Option(help: "Attempts in flight in all (env GANTRY_WEBHOOK_CONCURRENCY).")
    var webhookConcurrency: Int = Int(env["GANTRY_WEBHOOK_CONCURRENCY"] ?? "") ?? defaults.concurrency

    func apply(to policy: inout WebhookPolicy) {
        policy.maxAttempts = webhookAttempts
        policy.initialDelay = webhookInitialDelay
        policy.maxDelay = max(webhookMaxDelay, webhookInitialDelay)
        policy.timeout = webhookTimeout
        policy.perHostConcurrency = webhookPerHost
        policy.concurrency = max(webhookConcurrency, webhookPerHost)
        policy.perHostMaxConcurrency = webhookPerHostMax ?? policy.concurrency
    }
}
