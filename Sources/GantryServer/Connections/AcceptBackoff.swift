import Glibc
import Logging
import Metrics
import NIOCore

/// On the listening socket: when `accept` fails because the process (or system) is out of descriptors or memory,
/// stop accepting for a second at a time instead of retrying in a busy loop, keep serving the connections already
/// open, log at most once a minute and count every failure (`gantry_accept_errors_total`).
///
/// NIO's own accept back-off never engages in this case (the failed read leaves the socket registered for reads,
/// so the event loop is woken again at once); turning `autoRead` off takes the socket out of the poll set.
final class AcceptBackoff: ChannelInboundHandler {
    typealias InboundIn = any Channel

    static let pause = TimeAmount.seconds(1)
    private let logger: Logger
    private var paused = false
    /// A warning was logged and no accept has succeeded since.
    private var episode = false
    private var lastWarning: NIODeadline?

    init(logger: Logger) {
        self.logger = logger
    }

    /// Puts an `AcceptBackoff` first in a listening channel's pipeline.
    static func install(on channel: any Channel, logger: Logger) async throws {
        try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.addHandler(AcceptBackoff(logger: logger), position: .first)
        }.get()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if episode {
            episode = false
            logger.notice("accepting connections again")
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let io = error as? IOError, [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(io.errnoCode) else {
            return context.fireErrorCaught(error)
        }
        Counter(label: "gantry_accept_errors_total", dimensions: [("errno", String(io.errnoCode))]).increment()
        let now = NIODeadline.now()
        if lastWarning.map({ now - $0 >= .minutes(1) }) ?? true {
            lastWarning = now
            episode = true
            logger.warning("cannot accept connections: out of descriptors or memory; pausing accepts for 1 s at a time and serving the open connections",
                           metadata: ["errno": "\(io.errnoCode)"])
        }
        guard !paused, let options = context.channel.syncOptions else { return }
        paused = true
        try? options.setOption(ChannelOptions.autoRead, value: false)
        context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: Self.pause) { [self] in
            paused = false
            try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
        }
    }
}
