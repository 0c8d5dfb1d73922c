import Foundation
import Signing
import Testing

/// What one webhook signature costs: SHA-256 of a 1 KiB body, then Ed25519 over fal's message. Off unless
/// `GANTRY_SIGN_BENCH=1`: `GANTRY_SIGN_BENCH=1 swift test --skip-build --filter SigningBenchmarkTests`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["GANTRY_SIGN_BENCH"] == "1"))
struct SigningBenchmarkTests {
    @Test func webhookSignature() {
        let key = Ed25519PrivateKey.generate()
        let body = [UInt8](repeating: 0x61, count: 1_024)
        let count = 20_000
        var last: [UInt8] = []
        let started = ContinuousClock.now
        for index in 0..<count {
            let message = "request-\(index)\ntenant\n1700000000\n\(SHA256.hex(body))"
            last = key.sign(Array(message.utf8))
        }
        let elapsed = started.duration(to: .now)
        let micros = (Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12) / Double(count)
        print("webhook signature (SHA-256 of 1 KiB + Ed25519): \(String(format: "%.1f", micros)) µs each over \(count)")
        #expect(last.count == 64)
    }
}
