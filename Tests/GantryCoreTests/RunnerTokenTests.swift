import Foundation
@testable import GantryCore
import Testing

@Suite("Runner tokens")
struct RunnerTokenTests {
    @Test func parsesEntriesAndGlobs() throws {
        let tokens = try RunnerToken.parseList("gpu1:s3cret-long:acme/*|fal-ai/fooocus/*\n# comment\n, cpu:another-secret:acme/blur ")
        #expect(tokens.map(\.id) == ["gpu1", "cpu"])
        #expect(tokens[0].globs == ["acme/*", "fal-ai/fooocus/*"])
        #expect(tokens[0].allows("acme/blur") && tokens[0].allows("acme/a/b") && tokens[0].allows("fal-ai/fooocus/inpaint"))
        #expect(!tokens[0].allows("fal-ai/fooocus") && !tokens[0].allows("other/acme"))
        #expect(tokens[1].allows("acme/blur") && !tokens[1].allows("acme/blurry"))
        // Everything after the second colon is the glob list.
        let colon = try RunnerToken(parsing: "x:pa55word:a:b/*")
        #expect(colon.secret == "pa55word" && colon.globs == ["a:b/*"])
    }

    @Test(arguments: ["nocolons", "id:secret", "bad id:secret-long:a/*", ":secret-long:a/*", "id::a/*", "id:secret-long:", "id:secret-long:|"])
    func refusesMalformedEntries(entry: String) {
        #expect(throws: ConfigurationError.self) { try RunnerToken(parsing: entry) }
    }

    @Test func refusesDuplicateIDs() {
        #expect(throws: ConfigurationError.self) { try RunnerToken.parseList("a:secret-one:x/*,a:secret-two:y/*") }
    }

    @Test(arguments: [("a*", "abc", true), ("*", "", true), ("a?c", "abc", true), ("a?c", "ac", false), ("*b*", "aaabaaa", true),
                      ("a*b*c", "aXbYc", true), ("a*b*c", "aXbY", false), ("acme/*", "acme/", true), ("**", "x/y", true)])
    func globs(pattern: String, text: String, matches: Bool) {
        #expect(RunnerToken.glob(pattern, matches: text) == matches)
    }

    @Test func ringFindsTokensBySecret() throws {
        let ring = RunnerTokenRing(try RunnerToken.parseList("gpu1:s3cret-long:a/*,gpu2:other-secret:b/*"))
        #expect(ring.token(for: "gpu1:s3cret-long")?.id == "gpu1")
        #expect(ring.token(for: "gpu2:other-secret")?.id == "gpu2")
        #expect(ring.token(for: "gpu1:other-secret") == nil)
        #expect(ring.token(for: "gpu3:s3cret-long") == nil)
        #expect(ring.token(for: "gpu1") == nil)
        #expect(ring.token(for: "gpu1:s3cret-lon") == nil)
    }

    @Test func leaseTokensNameTheirFence() {
        let token = RunnerLease.token(attempt: 3, instance: "box-1")
        #expect(RunnerLease.fence(requestID: "r", token: token, runnerID: "gpu1") == LeaseFence(requestID: "r", attempt: 3, owner: "runner:gpu1:box-1"))
        for bad in ["", "3", "x:box", "0:box", "-1:box", "3:", "3:bad instance", "3:a:b"] {
            #expect(RunnerLease.fence(requestID: "r", token: bad, runnerID: "gpu1") == nil, "\(bad)")
        }
    }
}
