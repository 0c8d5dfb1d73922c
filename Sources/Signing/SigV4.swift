import Foundation

/// AWS Signature Version 4, as S3-compatible object stores check it.
///
/// A request is signed over its canonical form: the method, the path encoded once (S3 does not normalise or
/// double-encode paths), the query pairs encoded and sorted byte-wise, the signed headers in lower case with their
/// values trimmed and inner runs of spaces collapsed, and the payload's SHA-256. The signature is an HMAC chain
/// keyed by `"AWS4" + secret`, then the day, region, service and `aws4_request`, over a string naming the
/// algorithm, time, scope and the canonical request's hash. Tests check every step against the vectors AWS
/// publishes (the SigV4 test suite and the S3 developer guide's examples).
public struct SigV4Signer: Sendable {
    /// An access key pair.
    public struct Credentials: Sendable, Equatable {
        public var accessKey: String
        public var secretKey: String

        public init(accessKey: String, secretKey: String) {
            self.accessKey = accessKey
            self.secretKey = secretKey
        }
    }

    /// What is signed: one HTTP request.
    public struct Request: Sendable {
        public var method: String
        /// The path as it goes on the wire, already percent-encoded (see `SigV4Signer.encodePath`).
        public var path: String
        /// Query pairs, not yet encoded, in any order; a name without a value has "".
        public var query: [(name: String, value: String)]
        /// The headers to sign (`host` among them), in any case and order; repeated names are kept in order.
        public var headers: [(name: String, value: String)]
        /// Lowercase hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
        public var payloadHash: String

        public init(method: String, path: String, query: [(name: String, value: String)] = [],
                    headers: [(name: String, value: String)], payloadHash: String) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.payloadHash = payloadHash
        }
    }

    /// The pieces of a signature, each kept so a test can say which step differs.
    public struct Signature: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signedHeaders: String
        public var signature: String
        /// The `Authorization` header's value.
        public var authorization: String
    }

    /// SHA-256 of the empty body.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public let credentials: Credentials
    public let region: String
    public let service: String

    public init(credentials: Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// Signs `request` at `date`. The request's headers must already hold `x-amz-date` (`amzDate(date)`) and, for
    /// S3, `x-amz-content-sha256`, exactly as they will be sent.
    public func sign(_ request: Request, at date: Date) -> Signature {
        let canonicalHeaders = Self.canonicalHeaders(request.headers)
        let signedHeaders = canonicalHeaders.map(\.name).joined(separator: ";")
        let canonical = [
            request.method.uppercased(),
            request.path.isEmpty ? "/" : request.path,
            Self.canonicalQuery(request.query),
            canonicalHeaders.map { "\($0.name):\($0.value)\n" }.joined(),
            signedHeaders,
            request.payloadHash,
        ].joined(separator: "\n")
        let stringToSign = stringToSign(canonicalRequest: canonical, date: date)
        let signature = Hex.encode(HMACSHA256.mac(key: signingKey(date: date), data: Array(stringToSign.utf8)))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKey)/\(scope(date)), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return Signature(canonicalRequest: canonical, stringToSign: stringToSign, signedHeaders: signedHeaders,
                         signature: signature, authorization: authorization)
    }

    /// A presigned URL's query (`X-Amz-Algorithm=…&X-Amz-Signature=…`) for a request signed over `host` only with an
    /// unsigned payload, valid `expires` seconds from `date`. `query` holds the request's own pairs, if any.
    public func presignedQuery(method: String, path: String, host: String, query: [(name: String, value: String)] = [],
                               expires: Int, at date: Date) -> String {
        var pairs = query
        pairs += [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", "\(credentials.accessKey)/\(scope(date))"),
                  ("X-Amz-Date", Self.amzDate(date)), ("X-Amz-Expires", String(expires)), ("X-Amz-SignedHeaders", "host")]
        let signed = sign(Request(method: method, path: path, query: pairs, headers: [("host", host)],
                                  payloadHash: "UNSIGNED-PAYLOAD"), at: date)
        return Self.canonicalQuery(pairs) + "&X-Amz-Signature=" + signed.signature
    }

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC, the form of `x-amz-date`.
    public static func amzDate(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let (days, rest) = seconds.quotientAndRemainder(dividingBy: 86_400)
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", year, month, day, rest / 3600, rest % 3600 / 60, rest % 60)
    }

    /// Percent-encodes every byte but the unreserved characters (`A-Z a-z 0-9 - . _ ~`), keeping `/` when `path`.
    public static func encode(_ text: String, keepingSlash: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepingSlash:
                out.append("/")
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    /// A path encoded for the wire and the signature: each segment encoded once, slashes kept.
    public static func encodePath(_ path: String) -> String { encode(path, keepingSlash: true) }

    /// The query as it is signed, which is also a valid way to send it: pairs encoded, sorted, joined with `&`.
    public static func canonicalQueryString(_ pairs: [(name: String, value: String)]) -> String { canonicalQuery(pairs) }

    /// Encoded pairs sorted by name, then value (byte order), joined with `&`.
    static func canonicalQuery(_ pairs: [(name: String, value: String)]) -> String {
        pairs.map { (encode($0.name), encode($0.value)) }
            .sorted { $0.0 == $1.0 ? Array($0.1.utf8).lexicographicallyPrecedes($1.1.utf8) : Array($0.0.utf8).lexicographicallyPrecedes($1.0.utf8) }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// Lower-case names sorted; values trimmed with inner runs of spaces collapsed; repeats joined with `,`.
    static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> [(name: String, value: String)] {
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            let collapsed = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            merged[name.lowercased(), default: []].append(collapsed.trimmingCharacters(in: .whitespaces))
        }
        return merged.keys.sorted().map { ($0, merged[$0]!.joined(separator: ",")) }
    }

    private func scope(_ date: Date) -> String {
        "\(Self.amzDate(date).prefix(8))/\(region)/\(service)/aws4_request"
    }

    private func stringToSign(canonicalRequest: String, date: Date) -> String {
        ["AWS4-HMAC-SHA256", Self.amzDate(date), scope(date), SHA256.hex(Array(canonicalRequest.utf8))].joined(separator: "\n")
    }

    private func signingKey(date: Date) -> [UInt8] {
        let day = HMACSHA256.mac(key: Array("AWS4\(credentials.secretKey)".utf8), data: Array(Self.amzDate(date).prefix(8).utf8))
        let inRegion = HMACSHA256.mac(key: day, data: Array(region.utf8))
        let inService = HMACSHA256.mac(key: inRegion, data: Array(service.utf8))
        return HMACSHA256.mac(key: inService, data: Array("aws4_request".utf8))
    }

    /// The proleptic Gregorian date of a day count from 1970-01-01 (Howard Hinnant's days-to-civil algorithm).
    private static func civilDate(daysSinceEpoch: Int) -> (Int, Int, Int) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (era * 400 + yearOfEra + (month <= 2 ? 1 : 0), month, day)
    }
}
