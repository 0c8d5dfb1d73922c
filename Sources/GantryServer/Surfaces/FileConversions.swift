import Foundation
import GantryCore
import Imaging
import Synchronization

/// The work `GET /files/…` may do for a client nobody authenticated: re-encoding a stored image for an `Accept`
/// header (`FileNegotiation`). Without bounds, a few requests for one large PNG as WebP pin every core and take
/// hundreds of MiB each. So:
///
/// - results are cached by stored file and target format (`cacheBytes` in all, least recently used out first),
///   and concurrent requests for the same representation share one conversion;
/// - at most `concurrent` conversions run at once and `maxWaiting` more may wait; past that the answer is 503 with
///   `Retry-After`;
/// - images above `maxPixels` are not converted: they are served as stored, like a file that does not decode.
final class FileConversions: Sendable {
    struct Limits: Sendable {
        var maxPixels = 4_096 * 4_096
        var concurrent = max(1, ProcessInfo.processInfo.activeProcessorCount / 2)
        var maxWaiting = 16
        var cacheBytes = 64 * 1024 * 1024
    }

    /// What a request gets.
    enum Outcome: Sendable {
        case converted(StoredFile)
        /// Serve the file as stored (not convertible, too large, or already in the format).
        case asStored
        /// Too many conversions in flight: try again shortly.
        case busy
    }

    private struct State {
        var cache: [String: StoredFile] = [:]
        var order: [String] = []  // least recently used first
        var cachedBytes = 0
        var inFlight: [String: Task<StoredFile?, Never>] = [:]
        var admitted = 0  // running plus waiting
    }

    let limits: Limits
    private let slots: ConcurrencyLimiter
    private let state = Mutex(State())

    init(limits: Limits = Limits()) {
        self.limits = limits
        self.slots = ConcurrencyLimiter(permits: limits.concurrent)
    }

    func convert(_ file: StoredFile, to format: ImageFormat) async -> Outcome {
        guard FileNegotiation.isConvertible(file.contentType), file.contentType.lowercased() != format.contentType else {
            return .asStored
        }
        guard let header = try? ImageCodec.readHeader(file.data), header.width * header.height <= limits.maxPixels else {
            return .asStored
        }
        let key = "\(file.etag)|\(format.rawValue)"
        enum Step { case hit(StoredFile), join(Task<StoredFile?, Never>), start(Task<StoredFile?, Never>), busy }
        let step: Step = state.withLock { state in
            if let hit = state.cache[key] {
                state.order.removeAll { $0 == key }
                state.order.append(key)
                return .hit(hit)
            }
            if let running = state.inFlight[key] { return .join(running) }
            guard state.admitted < limits.concurrent + limits.maxWaiting else { return .busy }
            state.admitted += 1
            let task = Task { [slots] in
                await slots.withPermit { await FileNegotiation.convert(file, to: format) }
            }
            state.inFlight[key] = task
            return .start(task)
        }
        switch step {
        case .hit(let file): return .converted(file)
        case .busy: return .busy
        case .join(let task): return await task.value.map(Outcome.converted) ?? .asStored
        case .start(let task):
            let result = await task.value
            state.withLock { state in
                state.admitted -= 1
                state.inFlight[key] = nil
                if let result { Self.remember(result, key: key, in: &state, budget: limits.cacheBytes) }
            }
            return result.map(Outcome.converted) ?? .asStored
        }
    }

    private static func remember(_ file: StoredFile, key: String, in state: inout State, budget: Int) {
        guard file.data.count <= budget / 4 else { return }
        state.cache[key] = file
        state.order.append(key)
        state.cachedBytes += file.data.count
        while state.cachedBytes > budget, !state.order.isEmpty {
            let evicted = state.order.removeFirst()
            state.cachedBytes -= state.cache.removeValue(forKey: evicted)?.data.count ?? 0
        }
    }
}
