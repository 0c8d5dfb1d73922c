import Logging
import Metrics
import NIOCore

/// The raw-byte side of one connection, first in its pipeline (before TLS and the HTTP decoder): it counts what
/// arrives, enforces `ConnectionLimits`' timeouts and, when asked, closes the connection gracefully ("lingering":
/// the response is sent, the write side shut, what the client still sends is read and dropped for a moment, then
/// the socket closed) so a client still sending a body it was refused can read its answer instead of a reset.
///
/// `ExchangeObserver`, after the HTTP codec, tells it where each request/response exchange stands.
/// Everything here runs on the connection's event loop.
final class ConnectionWatchdog: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// How long a lingering close keeps reading before the socket is closed.
    static let lingerDuration = TimeAmount.seconds(2)

    private enum Phase {
        /// Nothing of a request received since `since` (connect or the last response).
        case idle(since: NIODeadline)
        /// A request head has started arriving at `since` and is not complete.
        case head(since: NIODeadline)
        /// A request body is arriving; `bytes` arrived in the window that began at `windowStart`.
        case body(windowStart: NIODeadline, bytes: Int)
        /// Every request received is complete and being answered: no read timeout.
        case answering
        /// Closing: the write side is shut and whatever arrives is dropped until `until`.
        case lingering(until: NIODeadline)
    }

    private let limits: ConnectionLimits
    private let clients: ClientAddressCounter
    private let logger: Logger
    private var phase: Phase
    private var context: ChannelHandlerContext?
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private var unwritableSince: NIODeadline?
    private var clientKey: String?
    /// When the last read cycle of a body ended with no new read requested yet (back-pressure from the route).
    private var readsHeldSince: NIODeadline?

    init(limits: ConnectionLimits, clients: ClientAddressCounter, logger: Logger) {
        self.limits = limits
        self.clients = clients
        self.logger = logger
        self.phase = .idle(since: .now())
    }

    // MARK: pipeline events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { becameActive(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
        releaseClient()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        becameActive(context: context)
        if clientKey != nil { context.fireChannelActive() }  // a refused connection is already closing
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        releaseClient()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let count = unwrapInboundIn(data).readableBytes
        switch phase {
        case .lingering:
            return  // dropped: the exchange is over
        case .idle:
            phase = .head(since: .now())
            arm(at: .now() + timeAmount(limits.headerTimeout))
        case .body(let windowStart, let bytes):
            phase = .body(windowStart: windowStart, bytes: bytes + count)
        case .head, .answering:
            break
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        switch phase {
        case .lingering:
            context.read()  // drain regardless of the application's back-pressure: these bytes are dropped here
            return
        case .body:
            readsHeldSince = .now()  // until the application asks for more (normally at once)
        case .idle, .head, .answering:
            break
        }
        context.fireChannelReadComplete()
    }

    /// The application asks for more bytes. While it was not asking (a route slow to consume its body holds the
    /// request's back-pressure) the client could not send, so that time does not count against the body window.
    func read(context: ChannelHandlerContext) {
        if let since = readsHeldSince, case .body(let windowStart, let bytes) = phase {
            phase = .body(windowStart: windowStart + (.now() - since), bytes: bytes)
        }
        readsHeldSince = nil
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            unwritableSince = nil
        } else if unwritableSince == nil {
            unwritableSince = .now()
            arm(at: .now() + timeAmount(limits.sendTimeout))
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .lingering = phase, let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)  // the client finished sending: nothing left to drain
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: what the HTTP side reports

    /// A request head was decoded: its body (if any) now has to keep moving.
    func requestHeadReceived() {
        if case .lingering = phase { return }
        readsHeldSince = nil
        phase = .body(windowStart: .now(), bytes: 0)
        arm(at: .now() + timeAmount(limits.bodyInterval))
    }

    /// The request's body is complete; the host is answering.
    func requestEnded() {
        if case .lingering = phase { return }
        phase = .answering
    }

    /// Every request received so far has been answered.
    func exchangeFinished() {
        switch phase {
        case .answering:
            phase = .idle(since: .now())
            arm(at: .now() + timeAmount(limits.idleTimeout))
        case .idle, .head, .body, .lingering:
            break  // a pipelined head is already arriving, or the connection is closing
        }
    }

    /// Closes gracefully once what was written is flushed (see the type's note).
    func closeLingering() {
        guard let context else { return }
        if case .lingering = phase { return }
        phase = .lingering(until: .now() + Self.lingerDuration)
        arm(at: .now() + Self.lingerDuration)
        context.channel.close(mode: .output, promise: nil)
        context.read()
    }

    // MARK: timer

    private func becameActive(context: ChannelHandlerContext) {
        guard clientKey == nil else { return }
        let key = context.channel.remoteAddress?.ipAddress ?? "unknown"
        guard clients.open(key) else {
            Counter(label: "gantry_connections_refused_total", dimensions: [("reason", "per_client_limit")]).increment()
            context.close(promise: nil)
            return
        }
        clientKey = key
        phase = .head(since: .now())  // a new connection owes its first request head
        arm(at: .now() + timeAmount(limits.headerTimeout))
    }

    private func releaseClient() {
        if let key = clientKey { clients.close(key) }
        clientKey = nil
    }

    /// Makes sure a check runs no later than `deadline`.
    private func arm(at deadline: NIODeadline) {
        guard let context else { return }
        if let current = timerDeadline, current <= deadline { return }
        timer?.cancel()
        timerDeadline = deadline
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline) { [self] in
            timer = nil
            timerDeadline = nil
            check()
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
        timerDeadline = nil
    }

    /// Closes the connection if a limit has passed; otherwise re-arms for the next one.
    private func check() {
        guard let context, context.channel.isActive else { return }
        let now = NIODeadline.now()
        if let since = unwritableSince {
            let due = since + timeAmount(limits.sendTimeout)
            if now >= due { return expire(context, reason: "send") }
            arm(at: due)
        }
        switch phase {
        case .idle(let since):
            let due = since + timeAmount(limits.idleTimeout)
            if now >= due { return expire(context, reason: "idle") }
            arm(at: due)
        case .head(let since):
            let due = since + timeAmount(limits.headerTimeout)
            if now >= due { return expire(context, reason: "header") }
            arm(at: due)
        case .body(let windowStart, let bytes):
            let due = windowStart + timeAmount(limits.bodyInterval)
            if now < due { return arm(at: due) }
            if bytes < limits.bodyMinimumBytes && readsHeldSince == nil { return expire(context, reason: "body") }
            phase = .body(windowStart: now, bytes: 0)
            arm(at: now + timeAmount(limits.bodyInterval))
        case .answering:
            break
        case .lingering(let until):
            if now >= until { context.close(promise: nil) } else { arm(at: until) }
        }
    }

    private func expire(_ context: ChannelHandlerContext, reason: String) {
        Counter(label: "gantry_connections_timed_out_total", dimensions: [("phase", reason)]).increment()
        logger.debug("connection closed by its \(reason) timeout", metadata: ["client": "\(clientKey ?? "?")"])
        context.close(promise: nil)
    }

    private func timeAmount(_ seconds: Double) -> TimeAmount { .nanoseconds(Int64(seconds * 1e9)) }
}
