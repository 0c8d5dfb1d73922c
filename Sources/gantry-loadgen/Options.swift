// gantry-loadgen's command line: modes, flags and their defaults.

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
