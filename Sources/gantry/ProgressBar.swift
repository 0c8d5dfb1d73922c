import Foundation
import Synchronization

/// A one-line progress bar on standard error.
final class ProgressBar: Sendable {
    private let fraction = Mutex(0.0)
    private let started = Date()

    func update(_ value: Double) {
        fraction.withLock { $0 = value }
        draw()
    }

    func log(_ line: String) {
        fraction.withLock { _ in FileHandle.standardError.write(Data("\r\u{1B}[K\(line)\n".utf8)) }
        draw()
    }

    func done() {
        update(1)
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func draw() {
        fraction.withLock { fraction in
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
            let line = String(format: "\r[%@] %3d%% %.1fs", bar, Int(fraction * 100), Date().timeIntervalSince(started))
            FileHandle.standardError.write(Data(line.utf8))
        }
    }
}
