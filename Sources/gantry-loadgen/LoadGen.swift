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
