import Foundation
import GantryCore
@testable import GantryServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Byte ranges of served files")
struct FileRangeTests {
    @Test("Range header forms", arguments: [
        ("bytes=0-3", nil, ByteRange.part(0..<4)),
        ("bytes=6-", nil, .part(6..<10)),
        ("bytes=-3", nil, .part(7..<10)),
        ("bytes=-30", nil, .part(0..<10)),
        ("bytes=8-100", nil, .part(8..<10)),
        ("bytes=10-", nil, .unsatisfiable),
        ("bytes=-0", nil, .unsatisfiable),
        ("bytes=0-1,4-5", nil, .whole),
        ("bytes=5-2", nil, .whole),
        ("items=0-3", nil, .whole),
        ("bytes=a-3", nil, .whole),
        ("bytes=0-3", "\"other\"", .whole),
        ("bytes=0-3", "\"etag\"", .part(0..<4)),
        ("bytes=0-99999999999999999999", nil, .part(0..<10)),
        ("bytes=99999999999999999999-", nil, .unsatisfiable),
    ] as [(String, String?, ByteRange)])
    func forms(_ header: String, _ ifRange: String?, _ expected: ByteRange) {
        #expect(ByteRange.select(header, ifRange: ifRange, etag: "\"etag\"", size: 10) == expected)
    }

    /// A stored file answers 206 with its Content-Range, 416 past its end, and the whole file without a range.
    @Test func servedRanges() async throws {
        try await withHost { host in
            let key = MemoryFileStore.makeKey(fileExtension: "txt")
            try await host.files.put(Data("0123456789".utf8), key: key, contentType: "text/plain")
            try await host.application.test(.router) { client in
                let whole = try await client.send(.get, "/files/\(key)")
                #expect(whole.status == .ok && whole.text == "0123456789")
                #expect(whole.header("accept-ranges") == "bytes")

                let part = try await client.send(.get, "/files/\(key)", headers: [.range: "bytes=2-5"])
                #expect(part.status == .partialContent)
                #expect(part.text == "2345")
                #expect(part.header("content-range") == "bytes 2-5/10")
                #expect(part.headers[.contentLength] == "4")

                let tail = try await client.send(.get, "/files/\(key)", headers: [.range: "bytes=-2"])
                #expect(tail.status == .partialContent && tail.text == "89")

                let past = try await client.send(.get, "/files/\(key)", headers: [.range: "bytes=10-"])
                #expect(past.status == .rangeNotSatisfiable)
                #expect(past.header("content-range") == "bytes */10")
                #expect(past.json["error_type"] == .string("range_not_satisfiable"))

                let stale = try await client.send(.get, "/files/\(key)", headers: [.range: "bytes=2-5", .ifRange: "\"old\""])
                #expect(stale.status == .ok && stale.text == "0123456789")
            }
        }
    }
}
