import Egress
import Foundation
import Logging
import Signing

/// One S3 answer that was not a success, with the error code from its XML body when it had one.
public struct S3Error: Error, Sendable, CustomStringConvertible {
    /// The HTTP status (0 when no answer came back).
    public let status: Int
    /// S3's error code (`NoSuchKey`, `PreconditionFailed`, `SignatureDoesNotMatch`…), or "".
    public let code: String
    /// What was being done, for the log.
    public let operation: String

    public var description: String {
        status == 0 ? "\(operation): \(code)" : "\(operation): HTTP \(status)\(code.isEmpty ? "" : " \(code)")"
    }
}

/// Signed requests to one bucket, sent through libcurl by the egress client.
///
/// The endpoint is the operator's, so the egress policy that guards user-given URLs is opened for it alone: the
/// client's policy allows every address, and the only URLs it ever builds are the configured endpoint's.
struct S3Client: Sendable {
    let location: S3Location
    let signer: SigV4Signer
    private let egress: EgressClient
    private let timeout: Double

    init(location: S3Location, maxObjectBytes: Int, timeout: Double = 300, logger: Logger?) throws {
        self.location = location
        signer = SigV4Signer(credentials: location.credentials, region: location.region)
        let policy = try EgressPolicy(allowingCIDRs: ["0.0.0.0/0", "::/0"])
        egress = EgressClient(policy: policy, limits: EgressLimits(maxBytes: maxObjectBytes, connectTimeout: 10, totalTimeout: timeout),
                              logger: logger)
        self.timeout = timeout
    }

    /// The path of an object (or of the bucket, for an empty key), encoded for the wire and the signature.
    func path(_ key: String) -> String {
        "/" + SigV4Signer.encode(location.bucket) + (key.isEmpty ? "" : "/" + SigV4Signer.encodePath(key))
    }

    /// Sends one signed request without a body and answers at the reply's head; the body streams while it is read.
    func stream(_ method: String, key: String, timeout: Double, operation: String) async throws -> StreamedReply {
        let (url, headers) = signed(method, key: key, query: [], headers: [], body: nil)
        do {
            return try await egress.stream(method: method, url: url, headers: headers, timeout: timeout)
        } catch let error as EgressError {
            throw S3Error(status: 0, code: "\(error)", operation: operation)
        }
    }

    /// Sends one signed request and returns the reply, whatever its status.
    func send(_ method: String, key: String, query: [(name: String, value: String)] = [],
              headers extra: [(name: String, value: String)] = [], body: Data? = nil, timeout: Double? = nil,
              operation: String) async throws -> HTTPReply {
        let (url, sent) = signed(method, key: key, query: query, headers: extra, body: body)
        do {
            return try await egress.send(method: method, url: url, headers: sent, body: body, timeout: timeout ?? self.timeout)
        } catch let error as EgressError {
            throw S3Error(status: 0, code: "\(error)", operation: operation)
        }
    }

    /// The URL and the headers (signature included) of one request.
    private func signed(_ method: String, key: String, query: [(name: String, value: String)], headers extra: [(name: String, value: String)],
                        body: Data?) -> (url: String, headers: [(String, String)]) {
        let now = Date()
        let payloadHash = SHA256.hex(body ?? Data())
        let path = path(key)
        var headers: [(name: String, value: String)] = [
            ("host", location.authority), ("x-amz-content-sha256", payloadHash), ("x-amz-date", SigV4Signer.amzDate(now)),
        ]
        headers += extra
        let signed = signer.sign(.init(method: method, path: path, query: query, headers: headers, payloadHash: payloadHash), at: now)
        // The Host line goes as signed: curl would otherwise write its own from the URL, which it may respell (it
        // shortens IPv6 literals, for one).
        var sent = headers.map { $0.name == "host" ? ("Host", $0.value) : ($0.name, $0.value) }
        sent.append(("Authorization", signed.authorization))
        let queryText = query.isEmpty ? "" : "?" + SigV4Signer.canonicalQueryString(query)
        return ("\(location.scheme)://\(location.authority)\(path)\(queryText)", sent)
    }

    /// The error a reply stands for, with the `<Code>` of its XML body.
    func failure(_ reply: HTTPReply, _ operation: String) -> S3Error {
        S3Error(status: reply.status, code: XMLText.first("Code", in: reply.body) ?? "", operation: operation)
    }
}

/// The few XML values S3's answers carry that the store reads (`UploadId`, `Code`): the text of an element with no
/// attributes and no children, entities decoded.
enum XMLText {
    static func first(_ element: String, in body: Data) -> String? {
        let text = String(decoding: body, as: UTF8.self)
        guard let open = text.range(of: "<\(element)>"),
              let close = text.range(of: "</\(element)>", range: open.upperBound..<text.endIndex) else { return nil }
        return decode(String(text[open.upperBound..<close.lowerBound]))
    }

    /// The contents of every `<element>…</element>` in order (for the repeated elements of a listing).
    static func all(_ element: String, in body: Data) -> [Data] {
        let text = String(decoding: body, as: UTF8.self)
        var found: [Data] = []
        var rest = text.startIndex..<text.endIndex
        while let open = text.range(of: "<\(element)>", range: rest),
              let close = text.range(of: "</\(element)>", range: open.upperBound..<text.endIndex) {
            found.append(Data(text[open.upperBound..<close.lowerBound].utf8))
            rest = close.upperBound..<text.endIndex
        }
        return found
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// Decodes the five named entities and numeric references (`&#34;`, `&#x22;`, which some servers write for
    /// the quotes of an ETag).
    static func decode(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var output = ""
        var rest = text[...]
        while let amp = rest.firstIndex(of: "&") {
            output += rest[..<amp]
            guard let semicolon = rest[amp...].firstIndex(of: ";"), rest.distance(from: amp, to: semicolon) <= 10,
                  let decoded = entity(rest[rest.index(after: amp)..<semicolon]) else {
                output.append("&")
                rest = rest[rest.index(after: amp)...]
                continue
            }
            output.append(decoded)
            rest = rest[rest.index(after: semicolon)...]
        }
        return output + rest
    }

    private static func entity(_ name: Substring) -> Character? {
        switch name {
        case "quot": return "\""
        case "apos": return "'"
        case "lt": return "<"
        case "gt": return ">"
        case "amp": return "&"
        default:
            guard name.hasPrefix("#") else { return nil }
            let digits = name.dropFirst()
            let value = digits.hasPrefix("x") || digits.hasPrefix("X") ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits)
            return value.flatMap(Unicode.Scalar.init).map(Character.init)
        }
    }
}
