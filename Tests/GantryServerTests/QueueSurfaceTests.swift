import Foundation
import GantryCore
@testable import GantryServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// A long echo that holds the only slot of a concurrency-1 host until it is cancelled.
let blockerBody = #"{"delay_ms":600000}"#

@Suite("fal queue surface (router)")
struct QueueSurfaceTests {
    /// Submit answers 200 with the ids, absolute queue URLs, a position, and the request id header.
    @Test func submitResponse() async throws {
        try await withHost { host in
            try await host.application.test(.router) { client in
                let reply = try await client.send(.post, "/queue/gantry/echo", json: #"{"x":1}"#)
                #expect(reply.status == .ok)
                let id = try #require(reply.json["request_id"]?.stringValue)
                #expect(reply.header("x-fal-request-id") == id)
                #expect(reply.json["gateway_request_id"]?.stringValue == id)
                #expect(reply.json["status"] == .string("IN_QUEUE"))
                #expect(reply.json["queue_position"]?.doubleValue != nil)
                let base = "\(host.publicURL.string)/queue/gantry/echo/requests/\(id)"
                #expect(reply.json["response_url"] == .string(base))
                #expect(reply.json["status_url"] == .string(base + "/status"))
                #expect(reply.json["cancel_url"] == .string(base + "/cancel"))
            }
        }
    }

    /// IN_QUEUE (202, position) → IN_PROGRESS (202, `logs` key) → COMPLETED (200, logs, metrics); the result replays.
    @Test func statusLifecycle() async throws {
        try await withHost(HostOptions(echoConcurrency: 1)) { host in
            try await host.application.test(.router) { client in
                let blocker = try await client.submit("gantry/echo", blockerBody)
                let running = try await client.waitForStatus(blocker["status_url"], "IN_PROGRESS", query: "?logs=1")
                #expect(running.status == .accepted)
                #expect(running.json["logs"] == .array([]))
                let runningNoLogs = try await client.waitForStatus(blocker["status_url"], "IN_PROGRESS", query: "?logs=0")
                #expect(runningNoLogs.json["logs"] == .null)

                let target = try await client.submit("gantry/echo", #"{"logs":["one","two"],"x":1}"#)
                let queued = try await client.send(.get, pathOf(target["status_url"]!.stringValue!)!)
                #expect(queued.status == .accepted)
                #expect(queued.json["status"] == .string("IN_QUEUE"))
                #expect(queued.json["queue_position"] == .number(0))
                #expect(queued.header("x-fal-request-id") == target["request_id"]?.stringValue)

                #expect(try await client.send(.put, pathOf(blocker["cancel_url"]!.stringValue!)!).status == .accepted)
                let done = try await client.waitForStatus(target["status_url"], "COMPLETED", query: "?logs=1")
                #expect(done.status == .ok)
                let logs = try #require(done.json["logs"]?.arrayValue)
                #expect(logs.map { $0["message"] } == [.string("one"), .string("two")])
                #expect(logs.allSatisfy { $0["level"] == .string("INFO") && $0["source"] == .string("USER") && $0["timestamp"]?.stringValue != nil })
                #expect(done.json["metrics"]?["inference_time"]?.doubleValue != nil)
                #expect(done.json["error"] == nil)
                for (query, expectsList) in [("?logs=true", true), ("?logs=false", false), ("?logs=0", false), ("", false)] {
                    let reply = try await client.waitForStatus(target["status_url"], "COMPLETED", query: query)
                    #expect((reply.json["logs"]?.arrayValue != nil) == expectsList, "\(query)")
                    #expect(reply.json["logs"] != nil, "\(query)")
                }

                let result = try await client.send(.get, pathOf(target["response_url"]!.stringValue!)!)
                #expect(result.status == .ok)
                #expect(result.json == .object(["logs": .array([.string("one"), .string("two")]), "x": .number(1), "sync_mode": .bool(false)]))
                let cancelled = try await client.waitForStatus(blocker["status_url"], "COMPLETED")
                #expect(cancelled.json["error_type"] == .string("request_cancelled"))
            }
        }
    }

    /// A `logs` value other than 1, 0, true or false is a 422.
    @Test func invalidLogsFlag() async throws {
        try await withHost { host in
            try await host.application.test(.router) { client in
                let submitted = try await client.submit("gantry/echo")
                let reply = try await client.send(.get, pathOf(submitted["status_url"]!.stringValue!)! + "?logs=yes")
                #expect(reply.status == .unprocessableContent)
                #expect(reply.json["detail"]?.arrayValue?.first?["loc"] == .array([.string("query"), .string("logs")]))
            }
        }
    }

    /// A failing function completes with `error`/`error_type`; its result replays the 500 envelope.
    @Test func failingFunction() async throws {
        try await withHost { host in
            try await host.application.test(.router) { client in
                let submitted = try await client.submit("gantry/echo", #"{"fail_with":"boom"}"#)
                let done = try await client.waitForStatus(submitted["status_url"], "COMPLETED")
                #expect(done.json["error"] == .string("boom"))
                #expect(done.json["error_type"] == .string("function_error"))
                let result = try await client.send(.get, pathOf(submitted["response_url"]!.stringValue!)!)
                #expect(result.status == .internalServerError)
                #expect(result.json == .object(["detail": .string("boom"), "error_type": .string("function_error")]))
                #expect(result.header("x-fal-error-type") == "function_error")
                #expect(result.header("x-fal-request-id") == submitted["request_id"]?.stringValue)
            }
        }
    }

    /// Cancel: 202 for queued or running, 400 once completed, 404 for an unknown id; each with a `status` field.
    @Test func cancelOutcomes() async throws {
        try await withHost(HostOptions(echoConcurrency: 1)) { host in
            try await host.application.test(.router) { client in
                let blocker = try await client.submit("gantry/echo", blockerBody)
                _ = try await client.waitForStatus(blocker["status_url"], "IN_PROGRESS")
                let queued = try await client.submit("gantry/echo")
                let cancelQueued = try await client.send(.put, pathOf(queued["cancel_url"]!.stringValue!)!)
                #expect(cancelQueued.status == .accepted)
                #expect(cancelQueued.json == .object(["status": .string("CANCELLATION_REQUESTED")]))
                let cancelRunning = try await client.send(.put, pathOf(blocker["cancel_url"]!.stringValue!)!)
                #expect(cancelRunning.status == .accepted)
                _ = try await client.waitForStatus(blocker["status_url"], "COMPLETED")
                let again = try await client.send(.put, pathOf(queued["cancel_url"]!.stringValue!)!)
                #expect(again.status == .badRequest)
                #expect(again.json == .object(["status": .string("ALREADY_COMPLETED")]))
                let unknown = try await client.send(.put, "/queue/gantry/echo/requests/\(UUID().uuidString.lowercased())/cancel")
                #expect(unknown.status == .notFound)
                #expect(unknown.json == .object(["status": .string("NOT_FOUND")]))
                let result = try await client.send(.get, pathOf(queued["response_url"]!.stringValue!)!)
                #expect(result.status == .badRequest)
                #expect(result.json["error_type"] == .string("request_cancelled"))
            }
        }
    }

    /// A request stuck behind a busy function past its X-Fal-Request-Timeout expires: result 504, user timeout.
    @Test func startDeadline() async throws {
        try await withHost(HostOptions(echoConcurrency: 1)) { host in
            try await host.application.test(.router) { client in
                let blocker = try await client.submit("gantry/echo", blockerBody)
                _ = try await client.waitForStatus(blocker["status_url"], "IN_PROGRESS")
                let late = try await client.submit("gantry/echo", headers: [HTTPField.Name("X-Fal-Request-Timeout")!: "0.2"])
                let done = try await client.waitForStatus(late["status_url"], "COMPLETED")
                #expect(done.json["error_type"] == .string("request_timeout"))
                let result = try await client.send(.get, pathOf(late["response_url"]!.stringValue!)!)
                #expect(result.status == .gatewayTimeout)
                #expect(result.header("x-fal-request-timeout-type") == "user")
                #expect(result.header("x-fal-error-type") == "request_timeout")
                #expect(result.json["error_type"] == .string("request_timeout"))
                _ = try await client.send(.put, pathOf(blocker["cancel_url"]!.stringValue!)!)
                let bad = try await client.send(.post, "/queue/gantry/echo", json: "{}", headers: [HTTPField.Name("X-Fal-Request-Timeout")!: "soon"])
                #expect(bad.status == .badRequest)
            }
        }
    }

    /// A request whose runner vanished on its last attempt completes with `runner_disconnected`; its result is a 503.
    @Test func runnerDisconnected() async throws {
        try await withHost { host in
            try await host.application.test(.router) { client in
                // No worker serves this id, so only the ghost below ever claims it; the path still names gantry/echo.
                let id = UUID().uuidString.lowercased()
                _ = try await host.store.requestInsert(RequestInsertParams(
                    id: id, tenant: "default", functionID: "gantry/echo/ghost", input: Data("{}".utf8), maxAttempts: 1, createdAt: Date()))
                _ = try await host.store.requestClaim(RequestClaimParams(
                    functionID: "gantry/echo/ghost", owner: "ghost", now: Date().addingTimeInterval(-120), leaseDuration: 60))
                let done = try await client.waitForStatus(.string("/queue/gantry/echo/requests/\(id)/status"), "COMPLETED")
                #expect(done.json["error_type"] == .string("runner_disconnected"))
                let result = try await client.send(.get, "/queue/gantry/echo/requests/\(id)")
                #expect(result.status == .serviceUnavailable)
                #expect(result.json["error_type"] == .string("runner_disconnected"))
                #expect(result.header("x-fal-error-type") == "runner_disconnected")
                #expect(result.header("x-fal-request-id") == id)
            }
        }
    }

    /// With one slot, a `low` request submitted first still runs after a normal one.
    @Test func lowPriorityServedAfterNormal() async throws {
        try await withHost(HostOptions(echoConcurrency: 1)) { host in
            try await host.application.test(.router) { client in
                let blocker = try await client.submit("gantry/echo", blockerBody)
                _ = try await client.waitForStatus(blocker["status_url"], "IN_PROGRESS")
                let low = try await client.submit("gantry/echo", headers: [HTTPField.Name("X-Fal-Queue-Priority")!: "low"])
                let normal = try await client.submit("gantry/echo", headers: [HTTPField.Name("X-Fal-Queue-Priority")!: "normal"])
                #expect(low["queue_position"] == .number(0))
                #expect(try await client.send(.get, pathOf(low["status_url"]!.stringValue!)!).json["queue_position"] == .number(1))
                #expect(normal["queue_position"] == .number(0))
                _ = try await client.send(.put, pathOf(blocker["cancel_url"]!.stringValue!)!)
                _ = try await client.waitForStatus(low["status_url"], "COMPLETED")
                _ = try await client.waitForStatus(normal["status_url"], "COMPLETED")
                let lowRecord = try #require(try await host.store.requestGet(id: low["request_id"]!.stringValue!))
                let normalRecord = try #require(try await host.store.requestGet(id: normal["request_id"]!.stringValue!))
                #expect(try #require(normalRecord.finishedAt) <= #require(lowRecord.startedAt))
            }
        }
    }
}
