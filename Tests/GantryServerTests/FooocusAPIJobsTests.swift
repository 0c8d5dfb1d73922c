import Foundation
import GantryCore
@testable import GantryServer
#if canImport(Glibc)
import Glibc
#endif
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// A TCP port on 127.0.0.1 that listens but never accepts: the kernel completes connections and an HTTP client
/// waits for a response that never comes, so a fooocus job fetching an input from it stays RUNNING until stopped.
final class HangingListener: @unchecked Sendable {
    let fd: Int32
    let port: Int

    init() throws {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, size) } }
        var length = size
        let named = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketFD, $0, &length) } }
        fd = socketFD
        port = Int(UInt16(bigEndian: address.sin_port))
        try #require(bound == 0 && named == 0 && listen(socketFD, 64) == 0)
    }

    var url: String { "http://127.0.0.1:\(port)/image.png" }

    deinit { close(fd) }
}

/// Serialized: every test runs the CPU engine, and the other live suites run beside these on the same cores.
@Suite("Fooocus-API jobs: stop, queue bound, history, webhooks (router)", .serialized)
struct FooocusAPIJobsTests {
    static let alice: HTTPFields = [HTTPField.Name("x-api-key")!: "alice:s1"]
    static let bob: HTTPFields = [HTTPField.Name("x-api-key")!: "bob:s2"]

    /// An async outpaint whose input never arrives: it holds the inpaint function's only slot while it runs.
    static func hangingJob(_ listener: HangingListener) throws -> String {
        try jsonText(["input_image": listener.url, "outpaint_selections": ["Left"], "async_process": true])
    }

    /// Stop cancels the caller's running job (USER_CANCEL), not another tenant's, not queued ones, and a stop with
    /// nothing running changes nothing for the next job.
    @Test func stopCancelsOnlyTheCallersRunningJob() async throws {
        let listener = try HangingListener()
        let inputs = try InpaintInputs()
        try await withHost(HostOptions(apiKeys: ["alice:s1", "bob:s2"], allowEgress: ["127.0.0.1/32"])) { host in
            try await host.application.test(.router) { client in
                // A stop with nothing running leaves nothing behind for the next job (Fooocus-API's flag would).
                let idle = try await client.send(.post, "/v1/generation/stop", headers: Self.alice)
                #expect(idle.status == .ok && idle.json == .object(["msg": .string("success")]))

                // A synchronous request waits on the hanging job; a second one queues behind it.
                let heldBody = try jsonText(["input_image": listener.url, "outpaint_selections": ["Left"]])
                async let held = client.send(.post, "/v2/generation/image-inpaint-outpaint", json: heldBody, headers: Self.alice)
                try #require(await eventually { try await !runningIDs(host).isEmpty })
                let running = try #require(try await runningIDs(host).first)
                let runningJob = try await client.waitForJob(running, ["RUNNING"], headers: Self.alice)
                #expect(runningJob.json["job_type"] == .string("Image Inpaint or Outpaint") && runningJob.json["job_status"] != .null)
                #expect(try await host.store.requestGet(id: running)?.cancelRequested == false)
                let queued = try await client.send(.post, "/v2/generation/image-inpaint-outpaint", json: try inputs.v2(["async_process": true]),
                                                   headers: Self.alice)
                let queuedID = try #require(queued.json["job_id"]?.stringValue)
                #expect(try await client.send(.get, "/v1/generation/query-job?job_id=\(queuedID)", headers: Self.alice).json["job_stage"]
                            == .string("WAITING"))
                // Another tenant neither sees nor stops it.
                #expect(try await client.send(.get, "/v1/generation/query-job?job_id=\(running)", headers: Self.bob).status == .notFound)
                #expect(try await client.send(.post, "/v1/generation/stop", headers: Self.bob).json == .object(["msg": .string("success")]))
                #expect(try await host.store.requestGet(id: running)?.cancelRequested == false)

                #expect(try await client.send(.post, "/v1/generation/stop", headers: Self.alice).status == .ok)
                // The stop is done when it answers: the queued job was not touched.
                let untouched = try #require(try await host.store.requestGet(id: queuedID))
                #expect(!untouched.cancelRequested && !untouched.state.isTerminal)
                let reply = try await held
                #expect(reply.status == .ok && reply.json == .array([FooocusAPIResponses.item(reason: "USER_CANCEL")]), "\(reply.text)")
                let stopped = try await client.waitForJob(running, ["ERROR"], headers: Self.alice)
                #expect(stopped.json["job_result"] == .array([FooocusAPIResponses.item(reason: "USER_CANCEL")]))
                let fal = try await client.send(.get, "/queue/fal-ai/fooocus/requests/\(running)/status", headers: Self.alice)
                #expect(fal.json["status"] == .string("COMPLETED") && fal.json["error_type"] == .string("request_cancelled"))
                _ = try await client.send(.put, "/queue/fal-ai/fooocus/requests/\(queuedID)/cancel", headers: Self.alice)
            }
        }
    }

    /// The bound counts queued plus running fooocus requests of every surface; past it, each response mode says
    /// QUEUE_IS_FULL in Fooocus-API's shape. job-queue and job-history list this tenant's Fooocus-API jobs.
    @Test func queueBoundAndListings() async throws {
        let listener = try HangingListener()
        let inputs = try InpaintInputs()
        var options = HostOptions(allowEgress: ["127.0.0.1/32"])
        options.configure = { $0.fooocusQueueSize = 2 }
        try await withHost(options) { host in
            try await host.application.test(.router) { client in
                let hanging = try await client.send(.post, "/v2/generation/image-inpaint-outpaint", json: try Self.hangingJob(listener))
                let hangingID = try #require(hanging.json["job_id"]?.stringValue)
                _ = try await client.waitForJob(hangingID, ["RUNNING"])
                let fal = try await client.submit("fal-ai/fooocus/inpaint", try jsonText(["inpaint_image_url": listener.url, "outpaint_selections": ["Left"]]))
                let full = try await client.send(.post, "/v2/generation/image-inpaint-outpaint", json: try inputs.v2(["async_process": true]))
                #expect(full.json == FooocusAPIResponses.job(id: "", kind: "Image Inpaint or Outpaint", stage: "ERROR",
                                                             result: .array([FooocusAPIResponses.item(reason: "QUEUE_IS_FULL")])))
                let sync = try await client.post("/v1/generation/image-inpaint-outpaint", form: inputs.v1())
                #expect(sync.status == .ok && sync.json == .array([FooocusAPIResponses.item(reason: "QUEUE_IS_FULL")]))
                let stream = try await client.send(.post, "/v2/generation/image-inpaint-outpaint", json: try inputs.v2(), headers: [.accept: "image/png"])
                #expect(stream.status == .conflict && stream.json["error_type"] == .string("QUEUE_IS_FULL"))
                #expect(try await client.send(.post, "/queue/gantry/echo", json: "{}").status == .ok)  // other functions are not bounded

                let queue = try await client.send(.get, "/v1/generation/job-queue")
                #expect(queue.json == .object(["running_size": .number(1), "finished_size": .number(0), "last_job_id": .string(hangingID)]))
                let history = try await client.send(.get, "/v1/generation/job-history")
                let entry = try #require(history.json["queue"]?.arrayValue?.first)
                #expect(entry["job_id"] == .string(hangingID) && entry["is_finished"] == .bool(false) && entry["finish_mills"] == .number(0))
                #expect((entry["start_mills"]?.doubleValue ?? 0) >= (entry["in_queue_mills"]?.doubleValue ?? .infinity))
                #expect(history.json["history"] == .array([]))
                #expect(try await client.send(.get, "/v1/generation/job-history?delete=true&job_id=\(hangingID)").status == .unprocessableContent)

                // Cancelling both frees the queue.
                #expect(try await client.send(.post, "/v1/generation/stop").status == .ok)
                _ = try await client.send(.put, "/queue/fal-ai/fooocus/requests/\(fal["request_id"]!.stringValue!)/cancel")
                _ = try await client.waitForJob(hangingID, ["ERROR"])
                _ = try await client.waitForStatus(fal["status_url"], "COMPLETED")
                let accepted = try await client.send(.post, "/v2/generation/image-inpaint-outpaint", json: try Self.hangingJob(listener))
                let acceptedID = try #require(accepted.json["job_id"]?.stringValue, "\(accepted.text)")
                _ = try await client.send(.put, "/queue/fal-ai/fooocus/requests/\(acceptedID)/cancel")
                let after = try await client.send(.get, "/v1/generation/job-history?job_id=\(hangingID)")
                #expect(after.json["history"]?.arrayValue?.map { $0["job_id"] } == [.string(hangingID)] && after.json["queue"] == .array([]))
                let later = try await client.send(.get, "/v1/generation/job-queue")
                #expect(later.json["last_job_id"] == .string(acceptedID) && (later.json["finished_size"]?.doubleValue ?? 0) >= 1)
            }
        }
    }

    /// Webhooks go through the durable outbox in Fooocus-API's shape: to the request's `webhook_url`, else to
    /// `--fooocus-webhook-url`; fal's submits keep fal's shape. (The Python tier receives them.)
    @Test func webhooksInFooocusShape() async throws {
        let listener = try HangingListener()
        var options = HostOptions(allowEgress: ["127.0.0.1/32"])
        options.configure = { $0.fooocusWebhookURL = "http://127.0.0.1:9/global" }
        try await withHost(options) { host in
            try await host.application.test(.router) { client in
                let own = try await client.send(.post, "/v2/generation/image-inpaint-outpaint", json: try jsonText([
                    "input_image": listener.url, "outpaint_selections": ["Left"], "async_process": true, "webhook_url": "http://127.0.0.1:9/own"]))
                let ownID = try #require(own.json["job_id"]?.stringValue)
                let ownDelivery = try await host.store.webhookGet(requestID: ownID)
                #expect(ownDelivery?.url == "http://127.0.0.1:9/own" && ownDelivery?.format == .fooocus)
                let global = try await client.send(.post, "/v2/generation/image-inpaint-outpaint", json: try Self.hangingJob(listener))
                let globalID = try #require(global.json["job_id"]?.stringValue)
                let globalDelivery = try await host.store.webhookGet(requestID: globalID)
                #expect(globalDelivery?.url == "http://127.0.0.1:9/global" && globalDelivery?.format == .fooocus)
                let fal = try await client.submit("fal-ai/fooocus/inpaint?fal_webhook=http://127.0.0.1:9/fal",
                                                  try jsonText(["inpaint_image_url": listener.url, "outpaint_selections": ["Left"]]))
                let falID = try #require(fal["request_id"]?.stringValue)
                #expect(try await host.store.webhookGet(requestID: falID)?.format == .fal)
                for id in [ownID, globalID, falID] { _ = try await client.send(.put, "/queue/fal-ai/fooocus/requests/\(id)/cancel") }
            }
        }
    }
}
