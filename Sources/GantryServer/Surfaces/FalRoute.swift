import HTTPTypes
import Hummingbird

/// A request of fal's wire protocol, recognised from method, path and host.
///
/// - Queue surface (path under the queue prefix, or a host name starting with `queue.`):
///   `POST /{owner}/{alias}[/{path…}]` submit, `GET …/{owner}/{alias}/requests/{id}/status[/stream]`,
///   `GET …/requests/{id}` result, `PUT …/requests/{id}/cancel`.
/// - Run surface (everything else): `POST /{owner}/{alias}[/{path…}]`.
/// Each may start with a `workflows/` or `comfy/` namespace segment.
enum FalRoute: Equatable {
    case submit(app: [Substring], namespace: Substring?)
    case run(app: [Substring], namespace: Substring?)
    /// `POST /{owner}/{alias}/stream` on the run surface: fal's output stream (server-sent events).
    case stream(app: [Substring], namespace: Substring?)
    case status(RequestPath, stream: Bool)
    case result(RequestPath)
    case cancel(RequestPath)

    /// The owner/alias and id named by a request route.
    struct RequestPath: Equatable {
        var namespace: Substring?
        var owner: Substring
        var alias: Substring
        var id: Substring

        /// The function-id prefix (`owner/alias`) the request must belong to.
        var appPrefix: String { "\(owner)/\(alias)" }
    }

    static let namespaces: Set<Substring> = ["workflows", "comfy"]

    /// Recognises a fal route, or nil when the method and path are not one.
    static func parse(method: HTTPRequest.Method, path: String, host: String?, queuePrefix: String, runPrefix: String) -> FalRoute? {
        var rest = Substring(path)
        var isQueue = false
        if !queuePrefix.isEmpty, rest.hasPrefix(queuePrefix + "/") {
            rest = rest.dropFirst(queuePrefix.count)
            isQueue = true
        } else if let host, host.lowercased().hasPrefix("queue.") {
            isQueue = true
        } else if !runPrefix.isEmpty {
            guard rest.hasPrefix(runPrefix + "/") else { return nil }
            rest = rest.dropFirst(runPrefix.count)
        }
        var segments = rest.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        if segments.last == "" { segments = segments.dropLast() }
        guard !segments.contains("") else { return nil }
        var namespace: Substring?
        if let first = segments.first, namespaces.contains(first) {
            namespace = first
            segments = segments.dropFirst()
        }
        let parts = Array(segments)
        guard parts.count >= 2 else { return nil }
        // Status, result and cancel are keyed by owner/alias; an endpoint path before `requests` is accepted and
        // ignored (function ids never contain a `requests` segment, manifests refuse it).
        if isQueue, let marker = parts.indices.dropFirst(2).first(where: { parts[$0] == "requests" }), marker + 1 < parts.count {
            let request = RequestPath(namespace: namespace, owner: parts[0], alias: parts[1], id: parts[marker + 1])
            let tail = parts[(marker + 2)...]
            switch (method, Array(tail)) {
            case (.get, []): return .result(request)
            case (.get, ["status"]): return .status(request, stream: false)
            case (.get, ["status", "stream"]): return .status(request, stream: true)
            case (.put, ["cancel"]): return .cancel(request)
            default: return nil
            }
        }
        guard method == .post else { return nil }
        if isQueue { return .submit(app: parts, namespace: namespace) }
        // Function ids never end in `stream` (registration refuses it), so the last segment names the stream.
        if parts.count >= 3, parts.last == "stream" { return .stream(app: Array(parts.dropLast()), namespace: namespace) }
        return .run(app: parts, namespace: namespace)
    }
}
