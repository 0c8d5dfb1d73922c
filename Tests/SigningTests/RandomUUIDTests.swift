import Foundation
import Signing
import Testing

@Suite("Random UUIDs")
struct RandomUUIDTests {
    @Test("ids are version 4, RFC 4122 variant, and distinct across several pool refills")
    func versionVariantAndDistinct() {
        var seen = Set<UUID>()
        for _ in 0..<2_000 {  // 2,000 ids use the 4 KiB pool about eight times over
            let id = UUID.secureRandom()
            let bytes = withUnsafeBytes(of: id.uuid) { Array($0) }
            #expect(bytes[6] >> 4 == 4)
            #expect(bytes[8] >> 6 == 0b10)
            seen.insert(id)
        }
        #expect(seen.count == 2_000)
    }

    @Test("the lower-case form is Foundation's text form in lower case")
    func lowercasedStringMatchesFoundation() throws {
        for _ in 0..<100 {
            let id = UUID.secureRandom()
            #expect(id.lowercasedString == id.uuidString.lowercased())
        }
        let fixed = try #require(UUID(uuidString: "00FF10A0-9B3C-4D2E-8F01-ABCDEF012345"))
        #expect(fixed.lowercasedString == "00ff10a0-9b3c-4d2e-8f01-abcdef012345")
    }

    @Test("concurrent callers never get the same bytes")
    func concurrentDistinct() async {
        let ids = await withTaskGroup(of: [UUID].self) { group in
            for _ in 0..<8 { group.addTask { (0..<500).map { _ in UUID.secureRandom() } } }
            return await group.reduce(into: [UUID]()) { $0 += $1 }
        }
        #expect(Set(ids).count == 4_000)
    }
}
