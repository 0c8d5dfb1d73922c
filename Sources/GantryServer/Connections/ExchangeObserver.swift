import GantryCore
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// The HTTP side of one connection, right after the HTTP/1 codec. It tells the `ConnectionWatchdog` where each
/// exchange stands and owns the connection-level answers Hummingbird would otherwise give without a body:
///
/// - A request that cannot be parsed (bad request line, oversized or too many headers, conflicting lengths, broken
///   chunking) gets the JSON envelope with 400 (431 for header overflow) and `Connection: close`. When the error
///   is in a body a route is reading, the route sees it and the error middleware answers; otherwise this answers,
///   after any responses still owed to earlier pipelined requests.
/// - An error answer to a request whose body has not been read to its end closes the connection gracefully
///   instead of reading the rest of that body.
final class ExchangeObserver: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let watchdog: ConnectionWatchdog
    /// Requests are numbered from 1 in arrival order; responses go out in the same order (HTTP/1.1 pipelining).
    private var received = 0
    private var answered = 0
    /// The newest request's body has not ended.
    private var bodyOpen = false
    /// A response head was written for request `answered + 1` and its end was not.
    private var responding = false
    /// Requests after whose response the connection closes.
    private var closeAfter: Set<Int> = []
    /// A request head that could not be parsed, to answer once every earlier request is answered.
    private var pendingError: Error?
    /// Inbound parts are no longer passed on (after a broken head, or once the last answer is written).
    private var discarding = false
    /// The last answer has been written: anything after it is dropped.
    private var closing = false

    init(watchdog: ConnectionWatchdog) {
        self.watchdog = watchdog
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if discarding || closing { return }
        switch unwrapInboundIn(data) {
        case .head:
            received += 1
            bodyOpen = true
            watchdog.requestHeadReceived()
        case .body:
            break
        case .end:
            bodyOpen = false
            watchdog.requestEnded()
            // Answered before its body ended: the connection is idle from here.
            if answered == received { watchdog.exchangeFinished() }
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard MalformedRequest(error) != nil else { return context.fireErrorCaught(error) }
        guard !closing else { return }
        if bodyOpen {
            if answered >= received {
                // Already answered (the route did not read its body): nothing more to say.
                closing = true
                watchdog.closeLingering()
            } else if responding && answered + 1 == received {
                closeAfter.insert(received)  // its answer has begun: close once it is written
            } else {
                // The route reading this body fails with the error and the middleware answers with the envelope.
                closeAfter.insert(received)
                context.fireErrorCaught(error)
            }
        } else {
            discarding = true
            if answered == received { answer(error, context: context) } else { pendingError = error }
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if closing || answered >= received {
            promise?.succeed()  // nothing is owed: a stray answer (Hummingbird's own 400 after a drain) is dropped
            return
        }
        let current = answered + 1
        switch unwrapOutboundIn(data) {
        case .head(var response):
            responding = true
            // An error answer to a request whose body was not read to its end: close rather than read the rest.
            if bodyOpen && received == current && response.status.code >= 400 { closeAfter.insert(current) }
            if closeAfter.contains(current) { response.headerFields[.connection] = "close" }
            context.write(wrapOutboundOut(.head(response)), promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            answered = current
            responding = false
            if closeAfter.contains(current) {
                finish(context: context, data: data, promise: promise)
            } else if answered == received, let error = pendingError {
                context.write(data, promise: promise)
                answer(error, context: context)
            } else {
                context.write(data, promise: promise)
                if answered == received && !bodyOpen { watchdog.exchangeFinished() }
            }
        }
    }

    /// Writes the envelope for a request that could not be parsed, then closes.
    private func answer(_ error: Error, context: ChannelHandlerContext) {
        guard let malformed = MalformedRequest(error) else { return }
        let body = ByteBuffer(data: malformed.envelope.encoded())
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        fields[.contentLength] = String(body.readableBytes)
        fields[.connection] = "close"
        fields[.falErrorType] = malformed.envelope.errorType
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .init(code: malformed.status), headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        finish(context: context, data: wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// Writes the last part of the connection's last answer and closes once it is on the wire.
    private func finish(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        closing = true
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.hop(to: context.eventLoop).assumeIsolatedUnsafeUnchecked().whenComplete { [watchdog] _ in
            watchdog.closeLingering()
        }
        written.futureResult.cascade(to: promise)
        context.writeAndFlush(data, promise: written)
    }
}
