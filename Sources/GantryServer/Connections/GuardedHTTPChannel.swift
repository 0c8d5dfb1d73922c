import GantryCore
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Hummingbird's HTTP/1 child channel with the connection guards in front of it: a `ConnectionWatchdog` first in
/// the pipeline (so it also sits before TLS when the server wraps this in TLS) and an `ExchangeObserver` after the
/// HTTP codec. Hummingbird's own request loop, idle handling and graceful quiesce are kept as they are.
struct GuardedHTTPChannel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    let limits: ConnectionLimits
    let clients: ClientAddressCounter
    let decoder: HTTP1Channel.Configuration.DecoderConfiguration

    /// A server builder for `Application` that makes these channels.
    static func builder(limits: ConnectionLimits, clients: ClientAddressCounter,
                        decoder: HTTP1Channel.Configuration.DecoderConfiguration = .init()) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            GuardedHTTPChannel(responder: responder, limits: limits, clients: clients, decoder: decoder)
        }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let (limits, clients, decoder, responder) = (self.limits, self.clients, self.decoder, self.responder)
        return channel.eventLoop.makeCompletedFuture { () -> NIOLoopBound<ConnectionWatchdog> in
            let watchdog = ConnectionWatchdog(limits: limits, clients: clients, logger: logger)
            try channel.pipeline.syncOperations.addHandler(watchdog, position: .first)
            return NIOLoopBound(watchdog, eventLoop: channel.eventLoop)
        }.flatMap { watchdog in
            let configuration = HTTP1Channel.Configuration(
                additionalChannelHandlers: [ExchangeObserver(watchdog: watchdog.value)], idleTimeout: nil,
                httpDecoderConfiguration: decoder)
            return HTTP1Channel(responder: responder, configuration: configuration).setup(channel: channel, logger: logger)
        }
    }

    /// Serves the connection from a task that runs on the channel's own event loop (see `EventLoopTaskExecutor`).
    func handle(value asyncChannel: Value, logger: Logger) async {
        let executor = EventLoopTaskExecutor(asyncChannel.channel.eventLoop)
        await withTaskExecutorPreference(executor) {
            await CallerExecutor.$preferred.withValue(executor) {
                await handleHTTP(asyncChannel: asyncChannel, logger: logger)
            }
        }
    }
}
