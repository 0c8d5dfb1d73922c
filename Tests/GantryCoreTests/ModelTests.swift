import Foundation
@testable import GantryCore
import Testing

/// The lifecycle of DESIGN.md §3, as the allowed (from, to) pairs; every other pair is forbidden.
private let allowed: Set<[RequestState]> = [
    [.queued, .running], [.queued, .cancelled], [.queued, .expired],
    [.running, .succeeded], [.running, .failed], [.running, .cancelled],
    // A lost or released lease puts a running request back in the queue.
    [.running, .queued],
]

private let allPairs: [(RequestState, RequestState)] = RequestState.allCases.flatMap { from in
    RequestState.allCases.map { (from, $0) }
}

@Suite("RequestState")
struct RequestStateTests {
    /// Each of the 36 pairs is allowed exactly when the lifecycle lists it.
    @Test(arguments: allPairs)
    func transition(from: RequestState, to: RequestState) {
        #expect(from.canTransition(to: to) == allowed.contains([from, to]))
    }

    /// Terminal states allow no transition at all; non-terminal states allow at least one.
    @Test(arguments: RequestState.allCases)
    func terminalStatesAreFinal(state: RequestState) {
        let exits = RequestState.allCases.filter { state.canTransition(to: $0) }
        #expect(state.isTerminal == exits.isEmpty)
    }

    @Test func terminalSet() {
        #expect(RequestState.allCases.filter(\.isTerminal) == [.succeeded, .failed, .cancelled, .expired])
    }

    /// fal sees queued as IN_QUEUE, running as IN_PROGRESS and every terminal state as COMPLETED.
    @Test(arguments: [
        (RequestState.queued, "IN_QUEUE"), (.running, "IN_PROGRESS"), (.succeeded, "COMPLETED"),
        (.failed, "COMPLETED"), (.cancelled, "COMPLETED"), (.expired, "COMPLETED"),
    ])
    func falStatus(state: RequestState, expected: String) {
        #expect(state.falStatus == expected)
    }

    /// The raw values are what the SQL stores' CHECK constraint lists.
    @Test func rawValues() {
        #expect(RequestState.allCases.map(\.rawValue) == ["queued", "running", "succeeded", "failed", "cancelled", "expired"])
    }

    /// `X-Fal-Queue-Priority`: only `low` (any case) is low; anything else, or no header, is normal.
    @Test(arguments: [("low", RequestPriority.low), ("LOW", .low), ("normal", .normal), ("high", .normal), ("", .normal)])
    func priorityHeader(value: String, expected: RequestPriority) {
        #expect(RequestPriority(header: value) == expected)
    }

    @Test func priorityOrder() {
        #expect(RequestPriority(header: nil) == .normal)
        #expect(RequestPriority.normal < .low)
    }
}

@Suite("FunctionError")
struct FunctionErrorTests {
    /// An input error is a 422 whose single issue names the field under `body`.
    @Test func inputError() throws {
        let error = FunctionError.input(field: ["image", "url"], code: "too_large", message: "Image is too large")
        #expect(error.status == 422)
        #expect(error.message == "image.url: Image is too large")
        #expect(try JSONValue.parse(error.body()) == json(#"{"detail":[{"loc":["body","image","url"],"msg":"Image is too large","type":"too_large"}],"error_type":"too_large"}"#))
    }

    /// A validation failure keeps every issue; the summary writes array indices as numbers.
    @Test func validationSummary() {
        let error = FunctionError.validation(ValidationFailure(issues: [
            ValidationIssue(loc: ["body", "items", 1, "n"], msg: "Input should be a valid integer", type: "int_type"),
            ValidationIssue(loc: ["body"], msg: "Input should be a valid dictionary", type: "dict_type"),
        ]))
        #expect(error.errorType == "validation_error")
        #expect(error.message == "items.1.n: Input should be a valid integer; Input should be a valid dictionary")
        #expect(error.description == "422 validation_error: \(error.message)")
    }

    /// A plain failure is a message envelope.
    @Test func failure() throws {
        let error = FunctionError.failed("it broke")
        #expect(error.status == 500)
        #expect(try JSONValue.parse(error.body()) == json(#"{"detail":"it broke","error_type":"function_error"}"#))
    }
}

@Suite("File keys")
struct FileKeyTests {
    /// Only keys of the shape the stores produce are valid; nothing can climb out of the root.
    @Test(arguments: [
        ("2026-11-21/abc-DEF_1.png", true), ("2026-11-21/a.b.webp", true), ("2026-11-21/../x.png", false),
        ("../2026-11-21/x.png", false), ("2026-11-21/.hidden", false), ("2026-11-21/", false), ("2026-11-21", false),
        ("2026-1-21/x.png", false), ("2026/11/21/x.png", false), ("2026-11-21/a/b.png", false), ("2026-11-21/a%2Fb.png", false),
        ("2026-11-21/naïve.png", false), ("/2026-11-21/x.png", false), ("20a6-11-21/x.png", false),
    ])
    func validity(key: String, valid: Bool) {
        #expect(isValidFileKey(key) == valid)
    }

    @Test func freshKeysAreValidAndDated() {
        let key = MemoryFileStore.makeKey(fileExtension: "png", now: Date(timeIntervalSince1970: 1_800_000_000))
        #expect(key.hasPrefix("2027-01-15/"))
        #expect(key.hasSuffix(".png"))
        #expect(isValidFileKey(key))
    }

    /// A local store writes atomically under its root and reads back bytes, type and a stable ETag.
    @Test func localStoreRoundTrip() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("files-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let store = try LocalFileStore(root: root)
        let key = LocalFileStore.makeKey(fileExtension: "webp")
        try await store.put(Data([1, 2, 3]), key: key, contentType: "image/webp")
        let file = try #require(try await store.get(key: key))
        #expect(file.data == Data([1, 2, 3]))
        #expect(file.contentType == "image/webp")
        #expect(try await store.get(key: key)?.etag == file.etag)
        #expect(try await store.get(key: "2026-11-21/missing.png") == nil)
        await #expect(throws: FileStoreError.self) { try await store.put(Data(), key: "../escape.png", contentType: "image/png") }
        #expect(contentType(forExtension: "JPG") == "image/jpeg")
    }
}
