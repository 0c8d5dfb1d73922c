// The loopback webhook receiver of `--mode webhook`: answers every POST with 200 at once and hands the
// request_id of its body to the client that submitted it.

import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// Pairs webhook arrivals with the clients waiting for them, whichever comes first.
final class WebhookArrivals: Sendable {
    private struct State {
        var waiting: [String: @Sendable () -> Void] = [:]
        var early: Set<String> = []
        var received = 0
    }

    private let state = NIOLockedValueBox(State())

    /// Calls `done` when the webhook of `id` has arrived (at once if it already has).
    func wait(for id: String, _ done: @escaping @Sendable () -> Void) {
        let now = state.withLockedValue { state -> Bool in
            if state.early.remove(id) != nil { return true }
            state.waiting[id] = done
            return false
        }
        if now { done() }
    }

    func arrived(_ id: String) {
        let done = state.withLockedValue { state -> (@Sendable () -> Void)? in
            state.received += 1
            if let done = state.waiting.removeValue(forKey: id) { return done }
            state.early.insert(id)
            return nil
        }
        done?()
    }

    var received: Int { state.withLockedValue { $0.received } }
}

final class WebhookHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let arrivals: WebhookArrivals
    var body = ByteBuffer()
    var keepAlive = true

    init(arrivals: WebhookArrivals) { self.arrivals = arrivals }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            body.clear()
            keepAlive = head.isKeepAlive
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "0")
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            let close = !keepAlive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in if close { context.close(promise: nil) } }
            if let id = jsonString(body, key: "request_id") { arrivals.arrived(id) }
        }
    }
}

/// Starts the receiver on 127.0.0.1 (an ephemeral port) and returns its channel.
func startWebhookReceiver(group: EventLoopGroup, arrivals: WebhookArrivals) throws -> Channel {
    try ServerBootstrap(group: group)
        .serverChannelOption(.backlog, value: 1024)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                try channel.pipeline.syncOperations.addHandler(WebhookHandler(arrivals: arrivals))
            }
        }
        .bind(host: "127.0.0.1", port: 0).wait()
}
