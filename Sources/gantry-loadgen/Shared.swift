// What the clients of one run share and what each one measured.

import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

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
