import Foundation
@testable import Fooocus
import GantryCore
import Imaging
import Logging
import Testing

/// Serves `data:` URIs and a table of fixed URLs; anything else is refused like the egress policy would.
struct TableFetcher: InputFetcher {
    var files: [String: Data] = [:]

    func fetch(_ url: String) async throws -> FetchedInput {
        if let data = files[url] { return FetchedInput(data: data, contentType: "image/png") }
        if url.hasPrefix("data:"), let comma = url.firstIndex(of: ",") {
            let header = url[url.index(url.startIndex, offsetBy: 5)..<comma]
            guard header.hasSuffix(";base64"), let data = Data(base64Encoded: String(url[url.index(after: comma)...])) else {
                throw InputFetchError(code: "invalid_data_uri", message: "not a base64 data URI")
            }
            return FetchedInput(data: data, contentType: String(header.dropLast(7)))
        }
        throw InputFetchError(code: "fetch_failed", message: "no such test file: \(url)")
    }
}

/// Collects what a run reports.
actor RecordingReporter: RunReporter {
    private(set) var logs: [LogEntry] = []
    private(set) var fractions: [Double] = []

    func log(_ entry: LogEntry) async { logs.append(entry) }
    func progress(_ fraction: Double) async { fractions.append(fraction) }
    var messages: [String] { logs.map(\.message) }
}

/// One function run's surroundings: a context over a memory file store and a recording reporter.
struct Harness {
    static let publicURL = "http://gantry.test"
    let files = MemoryFileStore()
    let reporter = RecordingReporter()
    var fetcher = TableFetcher()

    func context(syncMode: Bool) -> RunContext {
        RunContext(requestID: UUID().uuidString, functionID: "fal-ai/fooocus/test", tenant: "test", attempt: 1,
                   syncMode: syncMode, deadline: nil, logger: Logger(label: "fooocus-functions-tests"),
                   reporter: reporter, fetcher: fetcher, files: files, publicURL: Self.publicURL)
    }

    /// The bytes behind an image record: its data URI, or the stored file.
    func bytes(of record: ImageRecord) async throws -> Data {
        if record.url.hasPrefix("data:") {
            return try await TableFetcher().fetch(record.url).data
        }
        let prefix = "\(Self.publicURL)/files/"
        try #require(record.url.hasPrefix(prefix), "unexpected URL \(record.url)")
        let file = try #require(try await files.get(key: String(record.url.dropFirst(prefix.count))))
        #expect(file.contentType == record.contentType)
        return file.data
    }

    /// The decoded pixels behind an image record, checking its declared size and byte count.
    func image(of record: ImageRecord) async throws -> Image {
        let data = try await bytes(of: record)
        #expect(data.count == record.fileSize)
        let image = try ImageCodec.decode(data)
        #expect(record.width == image.width && record.height == image.height)
        return image
    }
}

/// Test inputs: the fixture pairs of Tests/reference/fixtures, decoded and downscaled.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("reference/fixtures")

    /// The photo and mask of a fixture pair, LANCZOS-resized to `side` × `side` when given.
    static func pair(_ stem: String, side: Int? = nil) throws -> (image: Image, mask: Image) {
        var image = try ImageCodec.decode(Data(contentsOf: directory.appendingPathComponent("\(stem).png")))
        var mask = try ImageCodec.decode(Data(contentsOf: directory.appendingPathComponent("\(stem)_mask.png")))
        if let side {
            image = Resample.lanczos(image, width: side, height: side)
            mask = Resample.lanczos(mask, width: side, height: side)
        }
        return (image, mask)
    }

    static let overture = "overture-creations-5sI6fQgYIuo"
    static let alex = "alex-iby-G_Pk4D9rMLs"

    static func dataURI(_ image: Image) throws -> String {
        "data:image/png;base64,\(try ImageCodec.encode(image, as: .png).base64EncodedString())"
    }
}

/// Builds a function input from JSON text, as the host does after validation.
func decodeInput<T: Decodable>(_ type: T.Type, _ object: [String: Any]) throws -> T {
    try JSONDecoder().decode(T.self, from: JSONSerialization.data(withJSONObject: object))
}

/// An engine that can do everything and paints a flat colour from the seed (for plumbing tests).
struct SeedColourEngine: ImageEngine {
    let name = "seed-colour"
    let capabilities = Set(EngineCapability.allCases)
    let seeds = SeedLog()

    func inpaint(_ task: InpaintTask, progress: @escaping @Sendable (Double) async -> Void) async throws -> Image {
        seeds.append(task.seed)
        await progress(1)
        let value = UInt8(truncatingIfNeeded: task.seed &* 37 &+ 11)
        return Image(width: task.preparation.workingWidth, height: task.preparation.workingHeight, channels: 3, fill: value)
    }
}

/// The seeds an engine saw, in order.
final class SeedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [UInt64] = []
    func append(_ seed: UInt64) { lock.withLock { values.append(seed) } }
    var all: [UInt64] { lock.withLock { values } }
}

/// An engine with no capabilities at all.
struct IncapableEngine: ImageEngine {
    let name = "nothing"
    let capabilities: Set<EngineCapability> = []
    func inpaint(_ task: InpaintTask, progress: @escaping @Sendable (Double) async -> Void) async throws -> Image {
        throw CancellationError()
    }
}

/// Pixels whose Chebyshev distance from every mask sample above 127 is at least 32: outside the blend's reach.
func farFromMask(_ mask: Image) -> [Bool] {
    let hard = PixelOps.up255(mask.channels == 1 ? mask : mask.channel(0), threshold: 127)
    let near = Morphology.erodeOrDilate(hard, k: 31)
    return near.pixels.map { $0 == 0 }
}

/// The FunctionError a throwing body threw.
func functionError(_ body: () async throws -> Void) async -> FunctionError? {
    do {
        try await body()
        return nil
    } catch let error as FunctionError {
        return error
    } catch {
        Issue.record("expected a FunctionError, got \(error)")
        return nil
    }
}

/// The fields an error's issues name (their `loc` after `body`).
func fields(of error: FunctionError?) -> [String] {
    guard case .issues(let issues)? = error?.detail else { return [] }
    return issues.map { $0.loc.dropFirst().compactMap(\.stringValue).joined(separator: ".") }
}
