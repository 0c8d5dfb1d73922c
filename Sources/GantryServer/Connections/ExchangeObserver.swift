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
    /// Request heads received whose response has not ended.
    private var unanswered = 0
    /// A request head arrived and its body has not ended.
    private var bodyOpen = false
    /// A response head was written for the oldest unanswered request.
    private var responding = false
    /// The connection closes after the response being written.
    private var closeAfterResponse = false
    /// A broken request to answer once the responses owed before it are written.
    private var pendingError: Error?
    /// The last answer has been written: anything after it is dropped.
    private var closing = false

    init(watchdog: ConnectionWatchdog) {
        self.watchdog = watchdog
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            unanswered += 1
            bodyOpen = true
            watchdog.requestHeadReceived()
        case .body:
            break
        case .end:
            bodyOpen = false
            watchdog.requestEnded()
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard MalformedRequest(error) != nil else { return context.fireErrorCaught(error) }
        closeAfterResponse = true
        if bodyOpen {
            // A route may be reading this body: it fails with the error and the middleware answers. If the answer
            // has already begun, the connection just closes after it.
            if !responding { context.fireErrorCaught(error) }
        } else if unanswered == 0 {
            answer(error, context: context)
        } else {
            pendingError = error
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if closing {
            promise?.succeed()
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(var response):
            responding = true
            if bodyOpen && response.status.code >= 400 { closeAfterResponse = true }
            if closeAfterResponse { response.headerFields[.connection] = "close" }
            context.write(wrapOutboundOut(.head(response)), promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            unanswered -= 1
            responding = false
            if closeAfterResponse && pendingError == nil {
                finish(context: context, data: data, promise: promise)
            } else if unanswered == 0, let error = pendingError {
                context.write(data, promise: promise)
                answer(error, context: context)
            } else {
                context.write(data, promise: promise)
                if unanswered == 0 { watchdog.exchangeFinished() }
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
        fields[HTTPField.Name("x-fal-error-type")!] = malformed.envelope.errorType
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
