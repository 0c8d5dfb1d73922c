import Foundation
import Signing
import Testing

/// Checked against vectors AWS publishes: the generic SigV4 test suite (service "service", 2015-08-30) and the worked
/// examples of the S3 developer guide (bucket "examplebucket", 2013-05-24).
@Suite("SigV4")
struct SigV4Tests {
    // The test suite's fixed inputs.
    static let suite = SigV4Signer(
        credentials: .init(accessKey: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1", service: "service")
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z

    // The S3 guide's fixed inputs.
    static let s3 = SigV4Signer(
        credentials: .init(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1")
    static let s3Date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z
    static let s3Host = "examplebucket.s3.amazonaws.com"

    struct SuiteCase: Sendable, CustomTestStringConvertible {
        let name: String
        let method: String
        let path: String
        let query: [(name: String, value: String)]
        let headers: [(name: String, value: String)]
        let body: String
        let signedHeaders: String
        let signature: String
        var testDescription: String { name }
    }

    static let suiteCases: [SuiteCase] = [
        .init(name: "get-vanilla", method: "GET", path: "/", query: [], headers: [], body: "",
              signedHeaders: "host;x-amz-date", signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        .init(name: "get-unreserved", method: "GET", path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
              query: [], headers: [], body: "",
              signedHeaders: "host;x-amz-date", signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
        .init(name: "get-vanilla-query-order-key-case", method: "GET", path: "/",
              query: [("Param2", "value2"), ("Param1", "value1")], headers: [], body: "",
              signedHeaders: "host;x-amz-date", signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        .init(name: "get-vanilla-query-order-value", method: "GET", path: "/",
              query: [("Param1", "value2"), ("Param1", "value1")], headers: [], body: "",
              signedHeaders: "host;x-amz-date", signature: "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"),
        .init(name: "get-vanilla-utf8-query", method: "GET", path: "/", query: [("\u{1234}", "bar")], headers: [], body: "",
              signedHeaders: "host;x-amz-date", signature: "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
        .init(name: "get-header-value-order", method: "GET", path: "/", query: [],
              headers: [("My-Header1", "value4"), ("My-Header1", "value1"), ("My-Header1", "value3"), ("My-Header1", "value2")], body: "",
              signedHeaders: "host;my-header1;x-amz-date", signature: "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"),
        .init(name: "get-header-key-duplicate", method: "GET", path: "/", query: [],
              headers: [("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1")], body: "",
              signedHeaders: "host;my-header1;x-amz-date", signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
        .init(name: "get-header-value-trim", method: "GET", path: "/", query: [],
              headers: [("My-Header1", " value1"), ("My-Header2", "\"a   b   c\"")], body: "",
              signedHeaders: "host;my-header1;my-header2;x-amz-date", signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
        .init(name: "post-x-www-form-urlencoded", method: "POST", path: "/", query: [],
              headers: [("Content-Type", "application/x-www-form-urlencoded")], body: "Param1=value1",
              signedHeaders: "content-type;host;x-amz-date", signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
    ]

    @Test("the SigV4 test suite", arguments: suiteCases)
    func testSuite(_ vector: SuiteCase) {
        let headers = [("Host", "example.amazonaws.com"), ("X-Amz-Date", SigV4Signer.amzDate(Self.suiteDate))] + vector.headers
        let signed = Self.suite.sign(
            .init(method: vector.method, path: vector.path, query: vector.query, headers: headers,
                  payloadHash: SHA256.hex(Array(vector.body.utf8))),
            at: Self.suiteDate)
        #expect(signed.authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            + "SignedHeaders=\(vector.signedHeaders), Signature=\(vector.signature)")
    }

    @Test("the suite's canonical query: sorted by name, then by value")
    func canonicalQueryOfTheSuite() {
        let signed = Self.suite.sign(
            .init(method: "GET", path: "/", query: [("Param2", "value2"), ("Param1", "value1")],
                  headers: [("host", "example.amazonaws.com"), ("x-amz-date", "20150830T123600Z")], payloadHash: SigV4Signer.emptyPayloadHash),
            at: Self.suiteDate)
        #expect(signed.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)[2] == "Param1=value1&Param2=value2")
    }

    func s3Headers(_ extra: [(name: String, value: String)], payload: String = SigV4Signer.emptyPayloadHash) -> [(name: String, value: String)] {
        [("host", Self.s3Host), ("x-amz-content-sha256", payload), ("x-amz-date", "20130524T000000Z")] + extra
    }

    @Test("S3 guide: GET Object with a Range, step by step")
    func s3GetObject() {
        let signed = Self.s3.sign(.init(method: "GET", path: "/test.txt", headers: s3Headers([("Range", "bytes=0-9")]),
                                        payloadHash: SigV4Signer.emptyPayloadHash), at: Self.s3Date)
        #expect(signed.canonicalRequest == """
            GET
            /test.txt

            host:examplebucket.s3.amazonaws.com
            range:bytes=0-9
            x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            x-amz-date:20130524T000000Z

            host;range;x-amz-content-sha256;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(signed.stringToSign == """
            AWS4-HMAC-SHA256
            20130524T000000Z
            20130524/us-east-1/s3/aws4_request
            7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972
            """)
        #expect(signed.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test("S3 guide: PUT Object, a path with a character to encode")
    func s3PutObject() {
        let payload = SHA256.hex(Array("Welcome to Amazon S3.".utf8))
        #expect(payload == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let signed = Self.s3.sign(
            .init(method: "PUT", path: SigV4Signer.encodePath("/test$file.text"),
                  headers: s3Headers([("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")], payload: payload),
                  payloadHash: payload),
            at: Self.s3Date)
        #expect(signed.canonicalRequest.hasPrefix("PUT\n/test%24file.text\n\n"))
        #expect(signed.signedHeaders == "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class")
        #expect(signed.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test("S3 guide: a query name without a value signs as name=")
    func s3Lifecycle() {
        let signed = Self.s3.sign(.init(method: "GET", path: "/", query: [("lifecycle", "")], headers: s3Headers([]),
                                        payloadHash: SigV4Signer.emptyPayloadHash), at: Self.s3Date)
        #expect(signed.signature == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test("S3 guide: a listing's query pairs are sorted whatever order they come in")
    func s3List() {
        let signed = Self.s3.sign(.init(method: "GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")], headers: s3Headers([]),
                                        payloadHash: SigV4Signer.emptyPayloadHash), at: Self.s3Date)
        #expect(signed.signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test("S3 guide: a presigned GET URL")
    func s3Presigned() {
        let query = Self.s3.presignedQuery(method: "GET", path: "/test.txt", host: Self.s3Host, expires: 86400, at: Self.s3Date)
        #expect(query == "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            + "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            + "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
    }

    @Test("dates format in UTC across a leap day and the end of a year")
    func amzDates() {
        #expect(SigV4Signer.amzDate(Date(timeIntervalSince1970: 0)) == "19700101T000000Z")
        #expect(SigV4Signer.amzDate(Date(timeIntervalSince1970: 951_782_399)) == "20000228T235959Z")
        #expect(SigV4Signer.amzDate(Date(timeIntervalSince1970: 951_782_400)) == "20000229T000000Z")
        #expect(SigV4Signer.amzDate(Date(timeIntervalSince1970: 1_798_761_599.9)) == "20261231T235959Z")
    }

    @Test("encoding keeps only unreserved characters, and slashes in paths")
    func encoding() {
        #expect(SigV4Signer.encode("a b/c~d$é") == "a%20b%2Fc~d%24%C3%A9")
        #expect(SigV4Signer.encodePath("/2026-12-06/a b+c.png") == "/2026-12-06/a%20b%2Bc.png")
    }
}
