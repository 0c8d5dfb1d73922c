import Foundation
@testable import GantryCore
import Testing

/// The webhook retry policy, as a table of outcomes and the step each leads to.
@Suite struct WebhookPolicyTests {
    let policy = WebhookPolicy()

    @Test("the default schedule: 10 attempts, gaps doubling from 14 s, about 2 hours in all")
    func defaultSchedule() {
        let gaps = (1..<policy.maxAttempts).map { policy.backoff(afterAttempt: $0, random: 0.5) }
        #expect(gaps == [14, 28, 56, 112, 224, 448, 896, 1_792, 3_584])
        let total = gaps.reduce(0, +)
        #expect(total > 1.9 * 3_600 && total < 2.1 * 3_600)
        // Jitter stays within ±20 %.
        #expect(policy.backoff(afterAttempt: 1, random: 0) == 14 * 0.8)
        #expect(abs(policy.backoff(afterAttempt: 1, random: 0.999_999) - 14 * 1.2) < 0.001)
        // The cap holds for late attempts of a longer policy.
        var long = policy
        long.maxAttempts = 30
        #expect(long.backoff(afterAttempt: 25, random: 0.5) == 3_600)
    }

    static let table: [(outcome: WebhookPolicy.Outcome, attempt: Int, expected: WebhookPolicy.Decision)] = [
        (.status(200, retryAfter: nil), 1, .delivered),
        (.status(204, retryAfter: nil), 10, .delivered),
        (.status(299, retryAfter: nil), 3, .delivered),
        (.status(500, retryAfter: nil), 1, .retry(after: 14)),
        (.status(500, retryAfter: nil), 2, .retry(after: 28)),
        (.status(301, retryAfter: nil), 1, .retry(after: 14)),
        (.status(404, retryAfter: nil), 1, .retry(after: 14)),
        (.status(410, retryAfter: nil), 1, .giveUp(reason: "the receiver answered 410 Gone")),
        (.status(429, retryAfter: 100), 1, .retry(after: 100)),
        (.status(503, retryAfter: 2), 1, .retry(after: 14)),
        (.status(503, retryAfter: 99_999), 1, .retry(after: 3_600)),
        (.status(500, retryAfter: 100), 1, .retry(after: 14)),
        (.transportFailure("connection refused"), 4, .retry(after: 112)),
        (.status(500, retryAfter: nil), 10, .giveUp(reason: "no success after 10 attempt(s)")),
        (.refused("loopback"), 1, .giveUp(reason: "the destination is refused by the egress policy: loopback")),
    ]

    @Test("outcomes and their next step", arguments: 0..<table.count)
    func decide(index: Int) {
        let row = Self.table[index]
        #expect(policy.decide(attempt: row.attempt, outcome: row.outcome, random: 0.5) == row.expected)
    }

    @Test("Retry-After as seconds or an HTTP-date; garbage is ignored")
    func retryAfter() {
        let now = Date(timeIntervalSince1970: 784_111_777)  // Sun, 06 Nov 1994 08:49:37 GMT
        #expect(WebhookPolicy.retryAfter("120", now: now) == 120)
        #expect(WebhookPolicy.retryAfter("Sun, 06 Nov 1994 08:50:37 GMT", now: now) == 60)
        #expect(WebhookPolicy.retryAfter("Sun, 06 Nov 1994 08:40:37 GMT", now: now) == 0)
        #expect(WebhookPolicy.retryAfter("-5", now: now) == nil)
        #expect(WebhookPolicy.retryAfter("soon", now: now) == nil)
        #expect(WebhookPolicy.retryAfter(nil, now: now) == nil)
    }

    @Test("invalid settings are refused naming the flag")
    func validation() {
        var bad = policy
        bad.maxAttempts = 0
        #expect(throws: ConfigurationError.self) { try bad.validate() }
        bad = policy
        bad.perHostConcurrency = 64
        #expect(throws: ConfigurationError.self) { try bad.validate() }
        #expect(throws: Never.self) { try policy.validate() }
    }
}

/// The bodies a webhook carries, built from the stored request.
@Suite struct WebhookPayloadTests {
    func record(_ state: RequestState, result: RequestResult? = nil, errorType: String? = nil, message: String? = nil) -> RequestRecord {
        RequestRecord(id: "req-1", tenant: "alice", functionID: "gantry/echo", input: Data("{}".utf8), state: state,
                      createdAt: Date(timeIntervalSince1970: 0), result: result, errorMessage: message, errorType: errorType)
    }

    func json(_ data: Data) throws -> JSONValue { try JSONValue.parse(data) }

    @Test func okCarriesTheOutput() throws {
        let body = WebhookPayload.body(for: record(.succeeded, result: RequestResult(status: 200, body: Data(#"{"images":[]}"#.utf8))), format: .fal)
        #expect(try json(body) == .object([
            "request_id": .string("req-1"), "gateway_request_id": .string("req-1"), "status": .string("OK"),
            "payload": .object(["images": .array([])]), "error": .null,
        ]))
    }

    @Test func functionErrorCarriesTheErrorBody() throws {
        let detail = #"{"detail":[{"loc":["body","prompt"],"msg":"field required","type":"missing"}]}"#
        let body = WebhookPayload.body(for: record(.failed, result: RequestResult(status: 422, body: Data(detail.utf8)), errorType: "validation_error"), format: .fal)
        let value = try json(body)
        guard case .object(let fields) = value else { Issue.record("not an object"); return }
        #expect(fields["status"] == .string("ERROR"))
        #expect(fields["error"] == .string("Invalid status code: 422"))
        #expect(fields["payload"] == (try json(Data(detail.utf8))))
    }

    @Test("cancelled, expired and runner-lost requests carry the result route's error envelope")
    func infrastructureErrors() throws {
        let cases: [(RequestRecord, String, String)] = [
            (record(.cancelled), "Request was cancelled", "request_cancelled"),
            (record(.expired), "Request timed out before it started", "request_timeout"),
            (record(.failed, errorType: "runner_disconnected", message: "lost"), "lost", "runner_disconnected"),
        ]
        for (request, message, type) in cases {
            guard case .object(let fields) = try json(WebhookPayload.body(for: request, format: .fal)) else { continue }
            #expect(fields["status"] == .string("ERROR"))
            #expect(fields["error"] == .string(message))
            #expect(fields["payload"] == .object(["detail": .string(message), "error_type": .string(type)]))
        }
    }

    @Test("an output that is not JSON becomes payload null plus payload_error")
    func payloadError() throws {
        let body = WebhookPayload.body(for: record(.succeeded, result: RequestResult(status: 200, body: Data("not json".utf8))), format: .fal)
        guard case .object(let fields) = try json(body) else { Issue.record("not an object"); return }
        #expect(fields["payload"] == .null)
        #expect(fields["payload_error"] != nil)
        #expect(fields["status"] == .string("OK"))
    }

    @Test("Fooocus-API shape: job_id and job_result urls with string seeds")
    func fooocus() throws {
        let output = #"{"images":[{"url":"http://h/files/a.png"},{"url":"http://h/files/b.png"}],"seed":41}"#
        let body = WebhookPayload.body(for: record(.succeeded, result: RequestResult(status: 200, body: Data(output.utf8))), format: .fooocus)
        #expect(try json(body) == .object([
            "job_id": .string("req-1"),
            "job_result": .array([
                .object(["url": .string("http://h/files/a.png"), "seed": .string("41")]),
                .object(["url": .string("http://h/files/b.png"), "seed": .string("42")]),
            ]),
        ]))
        let failed = WebhookPayload.body(for: record(.failed, errorType: "function_error", message: "boom"), format: .fooocus)
        #expect(try json(failed) == .object(["job_id": .string("req-1"), "job_result": .array([])]))
    }
}

/// Per-host windows: earned by fast deliveries, lost to overload, never below the start.
@Suite struct HostWindowsTests {
    let policy = WebhookPolicy(perHostConcurrency: 2, perHostMaxConcurrency: 6, fastAnswer: 1, concurrency: 8)

    @Test func fastAnswersGrowTheWindowUpToTheMaximum() {
        var windows = HostWindows(policy: policy)
        let taken = [windows.take("a"), windows.take("a"), windows.take("a")]
        #expect(taken == [true, true, false])
        #expect(windows.fullHosts == ["a"])
        for _ in 0..<10 {
            windows.finish("a", .fast)
            let again = windows.take("a")
            #expect(again)
        }
        #expect(windows.window("a") == 6 && windows.total == 2)
        #expect(windows.window("b") == 2)  // hosts are apart
    }

    @Test func overloadHalvesSlownessShrinksNeutralKeeps() {
        var windows = HostWindows(policy: policy)
        /// One attempt to host "a" that ends with `answer`; the window after it.
        func attempt(_ answer: HostWindows.Answer) -> Int {
            _ = windows.take("a")
            windows.finish("a", answer)
            return windows.window("a")
        }
        let grown = [attempt(.fast), attempt(.fast), attempt(.fast), attempt(.fast)]
        #expect(grown == [3, 4, 5, 6])
        #expect(attempt(.overloaded) == 3)
        #expect(attempt(.neutral) == 3)
        #expect(attempt(.slow) == 2)
        #expect(attempt(.overloaded) == 2)
        #expect(windows.total == 0)
    }

    @Test func answersAreClassifiedByStatusAndTime() {
        func answer(_ result: WebhookSendResult, _ ms: Int) -> HostWindows.Answer {
            HostWindows.Answer(result, elapsed: .milliseconds(ms), fastAnswer: 1)
        }
        #expect(answer(.response(status: 204, headers: []), 20) == .fast)
        #expect(answer(.response(status: 200, headers: []), 1_500) == .slow)
        #expect(answer(.response(status: 503, headers: []), 20) == .overloaded)
        #expect(answer(.response(status: 429, headers: []), 20) == .overloaded)
        #expect(answer(.response(status: 404, headers: []), 20) == .neutral)
        #expect(answer(.failed("timeout"), 15_000) == .overloaded)
        #expect(answer(.refused("private address"), 1) == .neutral)
    }

    @Test func maximumMustLieBetweenStartAndTotal() {
        var bad = policy
        bad.perHostMaxConcurrency = 1
        #expect(throws: ConfigurationError.self) { try bad.validate() }
        bad.perHostMaxConcurrency = 9
        #expect(throws: ConfigurationError.self) { try bad.validate() }
        #expect(throws: Never.self) { try policy.validate() }
    }
}
