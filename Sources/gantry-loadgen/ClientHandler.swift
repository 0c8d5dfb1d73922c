// One virtual client: a keep-alive connection driven by a state machine on its event loop.

import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

final class ClientHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    enum Step { case submit, status, result, statusOnly, drain }

    let shared: Shared
    let result: ClientResult
    let done: EventLoopPromise<Void>
    var step = Step.submit
    var responseStatus: UInt = 0
    var body: ByteBuffer
    var iterationStart: UInt64 = 0
    var requestStart: UInt64 = 0
    var requestID = ""
    var polls = 0
    var drainIndex = 0
    var drainFirstPass = true
    var rng: UInt64
    var finished = false
    var context: ChannelHandlerContext?
    var submitPath: String { shared.options.wire == .runpod ? "/run" : "\(shared.options.queuePrefix)/\(shared.options.app)" }
    var isRunPod: Bool { shared.options.wire == .runpod }
    var requestBase: String {
        let parts = shared.options.app.split(separator: "/")
        return "\(shared.options.queuePrefix)/\(parts[0])/\(parts.count > 1 ? parts[1] : "")/requests/"
    }

    init(shared: Shared, result: ClientResult, done: EventLoopPromise<Void>, seed: UInt64) {
        self.shared = shared
        self.result = result
        self.done = done
        body = ByteBuffer()
        rng = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        next(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !finished {
            result.errors += 1
            if result.firstError == nil { result.firstError = "connection closed by server" }
            finish(context: context, close: false)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        result.errors += 1
        if result.firstError == nil { result.firstError = "\(error)" }
        finish(context: context, close: true)
    }

    func finish(context: ChannelHandlerContext, close: Bool) {
        guard !finished else { return }
        finished = true
        if close { context.close(promise: nil) }
        done.succeed(())
    }

    func random() -> UInt64 {
        rng ^= rng << 13
        rng ^= rng >> 7
        rng ^= rng << 17
        return rng
    }

    /// Starts the next unit of work, or finishes.
    func next(context: ChannelHandlerContext) {
        let now = nowNanos()
        let options = shared.options
        switch options.mode {
        case .queue:
            guard now < shared.deadline, shared.take() != nil else { return finish(context: context, close: true) }
            iterationStart = now
            polls = 0
            step = .submit
            send(context: context, method: .POST, uri: submitPath, body: true)
        case .submit:
            guard now < shared.deadline, shared.take() != nil else { return finish(context: context, close: true) }
            iterationStart = now
            step = .submit
            send(context: context, method: .POST, uri: submitPath, body: true)
        case .webhook:
            guard now < shared.deadline, shared.take() != nil else { return finish(context: context, close: true) }
            iterationStart = now
            step = .submit
            send(context: context, method: .POST, uri: submitPath + shared.webhookQuery, body: true)
        case .status:
            guard now < shared.deadline, shared.take() != nil, !shared.ids.isEmpty else { return finish(context: context, close: true) }
            iterationStart = now
            step = .statusOnly
            let id = shared.ids[Int(random() % UInt64(shared.ids.count))]
            send(context: context, method: .GET, uri: requestBase + id + "/status", body: false)
        case .drain:
            guard let left = shared.take() else { return finish(context: context, close: true) }
            drainIndex = shared.ids.count - 1 - left
            drainFirstPass = true
            iterationStart = now
            step = .drain
            send(context: context, method: .GET, uri: requestBase + shared.ids[drainIndex] + "/status", body: false)
        }
    }

    /// The status request of a request id: fal's GET …/status, or RunPod's POST /status/{id} with an empty object.
    func sendStatus(context: ChannelHandlerContext, id: String) {
        if isRunPod {
            send(context: context, method: .POST, uri: "/status/" + id, body: true, bytes: Array("{}".utf8))
        } else {
            send(context: context, method: .GET, uri: requestBase + id + "/status", body: false)
        }
    }

    func send(context: ChannelHandlerContext, method: HTTPMethod, uri: String, body: Bool, bytes: [UInt8]? = nil) {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: shared.hostHeader)
        let payload = bytes ?? shared.bodyBytes
        if body {
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(payload.count))
        }
        requestStart = nowNanos()
        result.requests += 1
        context.write(wrapOutboundOut(.head(HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: headers))), promise: nil)
        if body {
            var buffer = context.channel.allocator.buffer(capacity: payload.count)
            buffer.writeBytes(payload)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            responseStatus = head.status.code
            body.clear()
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            handleResponse(context: context)
        }
    }

    func recordError(_ what: String) {
        result.errors += 1
        if result.firstError == nil {
            result.firstError = "\(what): HTTP \(responseStatus) \(String(buffer: body).prefix(200))"
        }
    }

    /// Counts an iteration that started after the warm-up and ended before the deadline.
    func measured(_ start: UInt64, polls: Int = 0) {
        let now = nowNanos()
        guard start >= shared.measureFrom, now <= shared.deadline else { return }
        result.completed += 1
        result.polls += polls
        result.latencies.append(now - start)
    }

    func handleResponse(context: ChannelHandlerContext) {
        switch step {
        case .submit:
            guard responseStatus / 100 == 2, let id = jsonString(body, key: isRunPod ? "id" : "request_id") else {
                recordError("submit")
                return next(context: context)
            }
            if shared.options.mode == .submit {
                result.ids.append(id)
                measured(iterationStart)
                return next(context: context)
            }
            if shared.options.mode == .webhook {
                let start = iterationStart
                let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
                let loop = context.eventLoop
                shared.arrivals.wait(for: id) {
                    loop.execute {
                        let handler = bound.value
                        guard let context = handler.context, !handler.finished else { return }
                        handler.measured(start)
                        handler.next(context: context)
                    }
                }
                return
            }
            requestID = id
            step = .status
            sendStatus(context: context, id: id)
        case .status:
            polls += 1
            let state = jsonString(body, key: "status")
            guard responseStatus / 100 == 2, let state else {
                recordError("status")
                return next(context: context)
            }
            if state == "COMPLETED" && isRunPod {
                measured(iterationStart, polls: polls)
                next(context: context)
            } else if state == "COMPLETED" {
                step = .result
                send(context: context, method: .GET, uri: requestBase + requestID, body: false)
            } else if isRunPod && (state == "FAILED" || state == "CANCELLED" || state == "TIMED_OUT") {
                recordError("status \(state)")
                next(context: context)
            } else {
                poll(context: context)
            }
        case .result:
            if responseStatus == 200 { measured(iterationStart, polls: polls) } else { recordError("result") }
            next(context: context)
        case .statusOnly:
            if responseStatus / 100 == 2, jsonString(body, key: "status") != nil {
                measured(iterationStart)
            } else {
                recordError("status")
            }
            next(context: context)
        case .drain:
            let state = jsonString(body, key: "status")
            guard responseStatus / 100 == 2, let state else {
                recordError("drain")
                return next(context: context)
            }
            if state == "COMPLETED" {
                result.completed += 1
                next(context: context)
            } else {
                if drainFirstPass { result.notCompletedFirstPass += 1 }
                drainFirstPass = false
                let uri = requestBase + shared.ids[drainIndex] + "/status"
                context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(20)) { [weak self] in
                    guard let self, let context = self.context, !self.finished else { return }
                    self.send(context: context, method: .GET, uri: uri, body: false)
                }
            }
        }
    }

    func poll(context: ChannelHandlerContext) {
        let interval = shared.options.pollIntervalMs
        if interval <= 0 {
            sendStatus(context: context, id: requestID)
        } else {
            context.eventLoop.assumeIsolated().scheduleTask(in: .microseconds(Int64(interval * 1000))) { [weak self] in
                guard let self, let context = self.context, !self.finished else { return }
                self.sendStatus(context: context, id: self.requestID)
            }
        }
    }
}
