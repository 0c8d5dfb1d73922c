import Foundation

/// The one JSON error shape every surface answers with and every stored failure keeps:
/// `{"detail": "…" | [{"loc": […], "msg": "…", "type": "…"}], "error_type": "…"}`.
///
/// Function errors (`FunctionError`), HTTP errors (the server's `APIError`) and webhook payloads all encode through
/// this one value, so the shape cannot drift between them.
public struct ErrorEnvelope: Sendable, Equatable {
    /// What `detail` carries: a sentence, or pydantic-style field issues.
    public enum Detail: Sendable, Equatable {
        case message(String)
        case issues([ValidationIssue])
    }

    /// fal's `error_type`.
    public var errorType: String
    public var detail: Detail

    public init(errorType: String, detail: Detail) {
        self.errorType = errorType
        self.detail = detail
    }

    /// An envelope with a message.
    public init(_ errorType: String, _ message: String) {
        self.init(errorType: errorType, detail: .message(message))
    }

    /// Reads an envelope back from a stored error body; nil when the body is not one (an output, say).
    public init?(parsing body: Data) {
        guard let json = try? JSONValue.parse(body), let type = json["error_type"]?.stringValue else { return nil }
        switch json["detail"] {
        case .string(let text)?:
            self.init(errorType: type, detail: .message(text))
        case .array(let items)?:
            self.init(errorType: type, detail: .issues(items.map { item in
                ValidationIssue(loc: item["loc"]?.arrayValue ?? [], msg: item["msg"]?.stringValue ?? "",
                                type: item["type"]?.stringValue ?? type)
            }))
        default:
            return nil
        }
    }

    /// The envelope as a JSON value.
    public var json: JSONValue {
        let detailValue: JSONValue = switch detail {
        case .message(let text): .string(text)
        case .issues(let issues):
            .array(issues.map { .object(["loc": .array($0.loc), "msg": .string($0.msg), "type": .string($0.type)]) })
        }
        return .object(["detail": detailValue, "error_type": .string(errorType)])
    }

    /// The encoded JSON body.
    public func encoded() -> Data { json.encoded() }

    /// A one-line human summary: the message, or each issue as `field.path: message` (the leading `body` dropped).
    public var message: String {
        switch detail {
        case .message(let text): return text
        case .issues(let issues):
            return issues.map { issue in
                let path = issue.loc.dropFirst().map { $0.stringValue ?? $0.doubleValue.map { String(Int($0)) } ?? "?" }
                    .joined(separator: ".")
                return path.isEmpty ? issue.msg : "\(path): \(issue.msg)"
            }.joined(separator: "; ")
        }
    }
}
