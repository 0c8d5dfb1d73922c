import Foundation
import GantryCore
@testable import GantryServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Signing
import Synchronization
import Testing

/// A webhook receiver on a real loopback socket: answers from a script of status codes and records every request.
final class Receiver: Sendable {
    struct Delivery: Sendable {
        let headers: HTTPFields
        let body: Data
        func header(_ name: String) -> String? { headers[HTTPField.Name(name)!] }
    }

    private let state: Mutex<(script: [Int], seen: [Delivery])>

    init(script: [Int]) { state = Mutex((script, [])) }

    var deliveries: [Delivery] { state.withLock { $0.seen } }

    var application: some ApplicationProtocol {
        let router = Router()
        router.post("/hook") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let status = self.state.withLock { state -> Int in
                state.seen.append(Delivery(headers: request.headers, body: Data(buffer: body)))
                return state.script.isEmpty ? 200 : state.script.removeFirst()
            }
            return Response(status: .init(code: status))
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }
}

@Suite("Webhooks (live host and receiver on loopback)")
struct WebhookLiveTests {
    /// 500, then 200: two attempts with the same request id and body, each signed with a key of the host's JWKS, the
    /// outcome in the request's logs and the outbox.
    @Test func retriedSignedDelivery() async throws {
        let receiver = Receiver(script: [500])
        try await receiver.application.test(.live) { receiverClient in
            let hook = "http://127.0.0.1:\(try #require(receiverClient.port))/hook"
            try await withHost(HostOptions(store: .sqlite, allowEgress: ["127.0.0.1/32"])) { host in
                try await host.application.test(.live) { client in
                    let webhook = hook.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                    let submitted = try await client.send(.post, "/queue/gantry/echo?fal_webhook=\(webhook)", json: #"{"n":3}"#)
                    #expect(submitted.status == .ok)
                    let id = try #require(submitted.json["request_id"]?.stringValue)
                    let delivered = try await eventually {
                        guard receiver.deliveries.count == 2 else { return false }
                        return try await host.store.webhookGet(requestID: id)?.state == .delivered
                    }
                    #expect(delivered)
                    let deliveries = receiver.deliveries
                    #expect(deliveries.count == 2)
                    #expect(deliveries.allSatisfy { $0.header("x-fal-webhook-request-id") == id && $0.header("x-fal-webhook-user-id") == "default" })
                    #expect(deliveries[0].body == deliveries[1].body)
                    let body = try JSONValue.parse(deliveries[1].body)
                    #expect(body["status"] == .string("OK") && body["request_id"] == .string(id) && body["gateway_request_id"] == .string(id))
                    #expect(body["payload"]?["n"] == .number(3))
                    #expect(body["error"] == .null)

                    let jwks = try await client.send(.get, "/.well-known/jwks.json")
                    let keys = try #require(jwks.json["keys"]?.arrayValue).compactMap { $0["x"]?.stringValue.flatMap(Base64URL.decode) }
                    #expect(keys.count == 1)
                    for delivery in deliveries {
                        let timestamp = try #require(delivery.header("x-fal-webhook-timestamp"))
                        #expect(abs(Double(timestamp)! - Date().timeIntervalSince1970) < 60)
                        let message = "\(id)\ndefault\n\(timestamp)\n\(SHA256.hex(delivery.body))"
                        let signature = try #require(Hex.decode(delivery.header("x-fal-webhook-signature") ?? ""))
                        #expect(keys.contains { Ed25519.verify(publicKey: $0, message: Array(message.utf8), signature: signature) })
                        var tampered = Array(delivery.body)
                        tampered[tampered.count / 2] ^= 1
                        let forged = "\(id)\ndefault\n\(timestamp)\n\(SHA256.hex(tampered))"
                        #expect(!keys.contains { Ed25519.verify(publicKey: $0, message: Array(forged.utf8), signature: signature) })
                    }
                    let delivery = try #require(try await host.store.webhookGet(requestID: id))
                    #expect(delivery.attempts == 2 && delivery.lastStatus == 200)
                    let logs = try await host.store.logList(requestID: id, limit: 100).map(\.message).filter { $0.hasPrefix("webhook attempt") }
                    #expect(logs.count == 2)
                    #expect(logs.first?.contains("HTTP 500") == true && logs.last?.contains("delivered") == true)
                }
            }
        }
    }

    /// Forbidden webhook URLs are refused at submit with a 422 naming `fal_webhook`, and nothing is queued.
    @Test(arguments: ["http://127.0.0.1:9/hook", "http://169.254.169.254/latest", "ftp://example.com/x", "http://user:pw@example.com/"])
    func forbiddenAtSubmit(url: String) async throws {
        try await withHost { host in
            try await host.application.test(.router) { client in
                let encoded = url.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                let reply = try await client.send(.post, "/queue/gantry/echo?fal_webhook=\(encoded)", json: "{}")
                #expect(reply.status == .unprocessableContent)
                #expect(reply.json["detail"]?.arrayValue?.first?["loc"] == .array([.string("query"), .string("fal_webhook")]))
                #expect(try await host.store.requestCounts().isEmpty)
            }
        }
    }
}
