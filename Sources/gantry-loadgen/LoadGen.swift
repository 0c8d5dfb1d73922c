// gantry-loadgen: a small keep-alive HTTP/1.1 load generator for bench/host.sh.
//
// wrk cannot chain dependent requests, so the queue round trip (submit → poll status → result), the bulk
// submit that fills the store, and the random-id status hammer live here. Every virtual client is one
// keep-alive connection driven by a state machine on its NIO event loop; nothing blocks and nothing awaits.
//
// Modes (all print one JSON object on stdout):
//   queue   each client loops submit → status until COMPLETED → result; reports round trips/s and latency
//   submit  submits --count requests (--body) and writes the request ids, one a line, to --ids-out
//   status  GETs the status of random ids from --ids-in for --duration seconds
//   drain   GETs the status of every id in --ids-in until each one is COMPLETED (retrying every 20 ms)
//   webhook each client loops submit with ?fal_webhook= (a receiver this tool runs on loopback) → that request's
//           webhook arrives; reports completions by webhook per second and submit→webhook latency
//
// Flags: --mode M --port P [--host 127.0.0.1] [--app gantry/echo] [--queue-prefix /queue] [-c N] [--duration S]
//        [--warmup S] [--count N] [--body JSON] [--ids-in F] [--ids-out F] [--poll-interval-ms MS] [--threads N]
//        [--protocol fal|runpod]
//
// `--protocol runpod` drives RunPod's worker SDK local API (`--rp_serve_api`) in queue mode instead: POST /run with
// {"input": BODY} → id, then POST /status/{id} until COMPLETED (the output comes with it; no result fetch), so an
// in-memory peer is measured by the same client.

import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

@inline(__always) func nowNanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

enum Mode: String { case queue, submit, status, drain, webhook }
enum WireProtocol: String, Sendable { case fal, runpod }

struct Options: Sendable {
    var mode: Mode = .queue
    var host = "127.0.0.1"
    var port = 8080
    var app = "gantry/echo"
    var queuePrefix = "/queue"
    var concurrency = 8
    var duration = 10.0
    var warmup = 0.0
    var count = Int.max
    var body = #"{"prompt":"hello","n":1}"#
    var idsIn: String?
    var idsOut: String?
    var pollIntervalMs = 0.0
    var threads = 1
    var wire = WireProtocol.fal

    static func parse(_ args: [String]) -> Options {
        var options = Options()
        var index = 0
        func value() -> String {
            index += 1
            guard index < args.count else { fail("missing value for \(args[index - 1])") }
            return args[index]
        }
        while index < args.count {
            switch args[index] {
            case "--mode": guard let mode = Mode(rawValue: value()) else { fail("unknown --mode") }; options.mode = mode
            case "--host": options.host = value()
            case "--port": options.port = Int(value()) ?? 0
            case "--app": options.app = value()
            case "--queue-prefix": options.queuePrefix = value()
            case "-c", "--concurrency": options.concurrency = max(1, Int(value()) ?? 1)
            case "--duration": options.duration = Double(value()) ?? 10
            case "--warmup": options.warmup = Double(value()) ?? 0
            case "--count": options.count = max(0, Int(value()) ?? 0)
            case "--body": options.body = value()
            case "--ids-in": options.idsIn = value()
            case "--ids-out": options.idsOut = value()
            case "--poll-interval-ms": options.pollIntervalMs = Double(value()) ?? 0
            case "--threads": options.threads = max(1, Int(value()) ?? 1)
            case "--protocol": guard let wire = WireProtocol(rawValue: value()) else { fail("--protocol is fal or runpod") }; options.wire = wire
            default: fail("unknown flag \(args[index])")
            }
            index += 1
        }
        return options
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("gantry-loadgen: \(message)\n".utf8))
    exit(2)
}

/// What one client measured; written on its event loop only, read after its `done` future completes.
final class ClientResult: @unchecked Sendable {
    var latencies: [UInt64] = []  // nanoseconds, measured iterations only
    var completed = 0  // measured iterations
    var errors = 0
    var requests = 0  // HTTP requests sent, all phases
    var polls = 0  // status polls of measured queue round trips
    var notCompletedFirstPass = 0  // drain mode
    var ids: [String] = []  // submit mode
    var firstError: String?

    init() { latencies.reserveCapacity(1 << 16) }
}

/// Shared among clients: the work counter (count-bounded modes) and the phase deadlines.
final class Shared: Sendable {
    let options: Options
    let start: UInt64
    let measureFrom: UInt64
    let deadline: UInt64
    let remaining: NIOLockedValueBox<Int>
    let ids: [String]
    let bodyBytes: [UInt8]
    let hostHeader: String
    /// `--mode webhook`: the receiver's URL (query-encoded) and its arrivals.
    let webhookQuery: String
    let arrivals: WebhookArrivals

    init(options: Options, ids: [String], webhookURL: String = "", arrivals: WebhookArrivals = WebhookArrivals()) {
        self.arrivals = arrivals
        self.options = options
        start = nowNanos()
        measureFrom = start + UInt64(options.warmup * 1e9)
        deadline = options.duration > 0 ? measureFrom + UInt64(options.duration * 1e9) : .max
        remaining = NIOLockedValueBox(options.mode == .drain ? ids.count : options.count)
        self.ids = ids
        bodyBytes = Array((options.wire == .runpod ? #"{"input":"# + options.body + "}" : options.body).utf8)
        hostHeader = "\(options.host):\(options.port)"
        webhookQuery = webhookURL.isEmpty ? "" : "?fal_webhook=" + (webhookURL.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? webhookURL)
    }

    /// Takes one unit of work; false when the count is used up.
    func take() -> Int? {
        remaining.withLockedValue { value in
            guard value > 0 else { return nil }
            value -= 1
            return value
        }
    }
}

/// Finds the string value of a top-level-ish JSON key (`"key":"value"`, spaces allowed) in a small body.
func jsonString(_ buffer: ByteBuffer, key: String) -> String? {
    let bytes = buffer.readableBytesView
    let needle = Array("\"\(key)\"".utf8)
    guard bytes.count >= needle.count else { return nil }
    var i = bytes.startIndex
    let last = bytes.endIndex - needle.count
    while i <= last {
        if bytes[i] == needle[0] {
            var match = true
            for k in 1..<needle.count where bytes[i + k] != needle[k] { match = false; break }
            if match {
                var j = i + needle.count
                while j < bytes.endIndex, bytes[j] == 0x20 || bytes[j] == 0x3A { j += 1 }  // spaces and ':'
                guard j < bytes.endIndex, bytes[j] == 0x22 else { i += 1; continue }
                j += 1
                var end = j
                while end < bytes.endIndex, bytes[end] != 0x22 { end += 1 }
                return String(decoding: bytes[j..<end], as: UTF8.self)
            }
        }
        i += 1
    }
    return nil
}

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

func percentile(_ sorted: [UInt64], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let index = min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)
    return Double(sorted[max(0, index)]) / 1e6
}

@main
struct LoadGen {
    static func main() throws {
        let options = Options.parse(Array(CommandLine.arguments.dropFirst()))
        var ids: [String] = []
        if let path = options.idsIn {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { fail("cannot read \(path)") }
            ids = text.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        }
        if (options.mode == .status || options.mode == .drain) && ids.isEmpty { fail("--mode \(options.mode) needs --ids-in with ids") }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: options.threads)
        let arrivals = WebhookArrivals()
        let receiver = options.mode == .webhook ? try startWebhookReceiver(group: group, arrivals: arrivals) : nil
        let shared = Shared(options: options, ids: ids, webhookURL: receiver.map { "http://127.0.0.1:\($0.localAddress?.port ?? 0)/hook" } ?? "",
                            arrivals: arrivals)
        var results: [ClientResult] = []
        var futures: [EventLoopFuture<Void>] = []
        for index in 0..<options.concurrency {
            let result = ClientResult()
            let loop = group.next()
            let done = loop.makePromise(of: Void.self)
            results.append(result)
            futures.append(done.futureResult)
            let seed = UInt64(index + 1) &* 0x2545_F491_4F6C_DD1D ^ nowNanos()
            let bootstrap = ClientBootstrap(group: loop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(ClientHandler(shared: shared, result: result, done: done, seed: seed))
                    }
                }
            bootstrap.connect(host: options.host, port: options.port).whenFailure { error in
                result.errors += 1
                if result.firstError == nil { result.firstError = "connect: \(error)" }
                done.succeed(())
            }
        }
        // Progress on stderr every 10 s for the long count-bounded modes.
        var progress: RepeatedTask?
        if options.mode == .submit || options.mode == .drain {
            let total = options.mode == .drain ? ids.count : options.count
            progress = group.next().scheduleRepeatedTask(initialDelay: .seconds(10), delay: .seconds(10)) { _ in
                let left = shared.remaining.withLockedValue { $0 }
                let seconds = Int(Double(nowNanos() - shared.start) / 1e9)
                FileHandle.standardError.write(Data("gantry-loadgen: \(options.mode) \(total - left) of \(total) started after \(seconds) s\n".utf8))
            }
        }
        try EventLoopFuture.andAllSucceed(futures, on: group.next()).wait()
        progress?.cancel()
        try receiver?.close().wait()
        let end = nowNanos()
        try group.syncShutdownGracefully()

        var latencies: [UInt64] = []
        var completed = 0, errors = 0, requests = 0, polls = 0, notCompleted = 0
        var firstError: String?
        for result in results {
            latencies += result.latencies
            completed += result.completed
            errors += result.errors
            requests += result.requests
            polls += result.polls
            notCompleted += result.notCompletedFirstPass
            if firstError == nil { firstError = result.firstError }
        }
        latencies.sort()
        let measuredEnd = min(end, shared.deadline)
        let seconds = Double(measuredEnd &- min(shared.measureFrom, measuredEnd)) / 1e9
        let wall = Double(end - shared.start) / 1e9
        if options.mode == .submit, let path = options.idsOut {
            let text = results.flatMap(\.ids).joined(separator: "\n") + "\n"
            guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else { fail("cannot write \(path)") }
        }
        var summary: [String: Any] = [
            "mode": options.mode.rawValue, "concurrency": options.concurrency, "completed": completed, "errors": errors,
            "http_requests": requests, "seconds": seconds, "wall_seconds": wall,
            "rps": seconds > 0 ? Double(completed) / seconds : 0,
            "p50_ms": percentile(latencies, 0.50), "p90_ms": percentile(latencies, 0.90),
            "p99_ms": percentile(latencies, 0.99), "p999_ms": percentile(latencies, 0.999),
            "max_ms": latencies.last.map { Double($0) / 1e6 } ?? 0,
        ]
        if options.mode == .queue {
            summary["polls_per_request"] = completed > 0 ? Double(polls) / Double(completed) : 0
            summary["poll_interval_ms"] = options.pollIntervalMs
        }
        if options.mode == .drain { summary["not_completed_first_pass"] = notCompleted }
        if let firstError { summary["first_error"] = firstError }
        let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
