import Foundation
import Logging

/// The only way Gantry talks to the outside world: input downloads, URL checks and
/// webhook requests all pass through the same gate.
///
/// For every hop the gate parses the URL with curl's parser, refuses non-http(s)
/// schemes and embedded credentials, resolves the host (failing closed), refuses
/// the URL if *any* address is refused by the ``EgressPolicy``, and then pins curl
/// to exactly those addresses. A socket callback re-checks the address curl
/// actually dials, so DNS rebinding and odd numeric spellings cannot slip through.
public final class EgressClient: Sendable {
    /// Which addresses may be contacted.
    public let policy: EgressPolicy
    /// Size, time and redirect caps.
    public let limits: EgressLimits
    private let logger: Logger?
    private let counter = ByteCounter()

    /// Creates a client; `logger` receives one debug line per checked hop and a notice per refusal.
    public init(policy: EgressPolicy, limits: EgressLimits = .init(), logger: Logger? = nil) {
        self.policy = policy
        self.limits = limits
        self.logger = logger
        _ = curlGlobalInit
    }

    /// Initialises libcurl now rather than on first use.
    ///
    /// Optional: creating a client does the same. Calling it early in `main`, before
    /// other threads start, keeps the one-time setup off any request's path.
    public static func bootstrap() {
        _ = curlGlobalInit
    }

    /// Total bytes received so far by this client, headers included (for a metrics counter the server exports).
    public var bytesReceived: Int { counter.total.load(ordering: .relaxed) }

    /// Downloads an http(s) URL or decodes a data: URI, under the policy and limits.
    ///
    /// Redirects (301, 302, 303, 307, 308) are followed up to `limits.maxRedirects`,
    /// every hop passing the full gate again; `limits.totalTimeout` covers the whole
    /// chain. For a `data:` URI, `finalURL` is just `"data:"`.
    /// - Parameter maxBytes: overrides `limits.maxBytes` for this call.
    /// - Throws: ``EgressError``.
    public func fetch(_ url: String, maxBytes: Int? = nil) async throws -> FetchedResource {
        let cap = maxBytes ?? limits.maxBytes
        if DataURI.isDataURI(url) {
            let decoded = try DataURI.parse(url, maxBytes: cap)
            return FetchedResource(data: decoded.data, contentType: decoded.mediaType, finalURL: "data:")
        }
        let deadline = ContinuousClock.now + .seconds(limits.totalTimeout)
        var current = try refusing(url) { () throws(EgressError) in try EgressURL.parse(url) }
        var redirects = 0
        while true {
            let outcome = try await hop(current, deadline: deadline, method: "GET", headers: [], body: nil, maxBytes: cap, stopEarly: true)
            let reply = HTTPReply(status: outcome.status, headers: outcome.headers, body: outcome.body)
            switch outcome.status {
            case 200..<300:
                return FetchedResource(data: outcome.body, contentType: reply.header("content-type"), finalURL: current.absolute)
            case 301, 302, 303, 307, 308:
                redirects += 1
                guard redirects <= limits.maxRedirects else {
                    throw EgressError(.tooManyRedirects, "more than \(limits.maxRedirects) redirects starting from \(url)")
                }
                guard let location = reply.header("location"), !location.isEmpty else {
                    throw EgressError(.httpStatus, "\(current.host) answered \(outcome.status) without a Location", httpStatus: outcome.status)
                }
                let base = current
                current = try refusing(location) { () throws(EgressError) in try EgressURL.parse(location, relativeTo: base) }
                logger?.debug("egress redirect", metadata: ["from": "\(base)", "to": "\(current)", "hop": "\(redirects)"])
            default:
                throw EgressError(.httpStatus, "\(current.host) answered HTTP \(outcome.status)", httpStatus: outcome.status)
            }
        }
    }

    /// Parses, checks the scheme and resolves the host, refusing if any resolved address is refused (for validating webhook URLs at submit time).
    /// - Throws: ``EgressError``.
    public func checkURL(_ url: String) async throws {
        let parsed = try refusing(url) { () throws(EgressError) in try EgressURL.parse(url) }
        _ = try await gate(parsed, deadline: ContinuousClock.now + .seconds(limits.totalTimeout))
    }

    /// One HTTP request (for webhook POSTs): no redirects followed (3xx returned as-is), same policy, given timeout.
    ///
    /// The reply body is capped at `limits.maxBytes`; `timeout` (seconds) covers DNS,
    /// connect and transfer.
    /// - Throws: ``EgressError`` for refusals and transport failures, never for an HTTP status.
    public func send(method: String, url: String, headers: [(String, String)], body: Data?, timeout: Double) async throws -> HTTPReply {
        let parsed = try checked(method: method, url: url, headers: headers)
        let deadline = ContinuousClock.now + .seconds(timeout)
        let outcome = try await hop(parsed, deadline: deadline, method: method, headers: headers, body: body, maxBytes: limits.maxBytes, stopEarly: false)
        return HTTPReply(status: outcome.status, headers: outcome.headers, body: outcome.body)
    }

    /// Like `send` without a body, but answers as soon as the reply's head is in: the body streams through the
    /// reply while it is read (at most `limits.maxBytes` of it). `timeout` covers the whole transfer, a slow reader
    /// included.
    /// - Throws: ``EgressError`` for refusals and transport failures before the head; later failures end the body.
    public func stream(method: String, url: String, headers: [(String, String)], timeout: Double) async throws -> StreamedReply {
        let parsed = try checked(method: method, url: url, headers: headers)
        let request = try await prepare(parsed, deadline: ContinuousClock.now + .seconds(timeout), method: method, headers: headers,
                                        body: nil, maxBytes: limits.maxBytes, stopEarly: false)
        do {
            return try await CurlTransfer.stream(request, counter: counter)
        } catch {
            logger?.notice("egress failed", metadata: ["url": "\(parsed)", "error": "\(error)"])
            throw error
        }
    }

    /// The URL of a `send` or `stream`, once its method and headers are known to be well-formed.
    private func checked(method: String, url: String, headers: [(String, String)]) throws -> EgressURL {
        guard !method.isEmpty, method.allSatisfy({ $0.isASCII && ($0.isLetter || $0 == "-") }) else {
            throw EgressError(.invalidRequest, "the HTTP method \(method) is not valid")
        }
        for (name, value) in headers {
            let nameOK = !name.isEmpty && name.allSatisfy { $0.isASCII && !$0.isWhitespace && $0 != ":" && !$0.isNewline }
            guard nameOK, !value.contains(where: { $0.isNewline || $0 == "\0" }) else {
                throw EgressError(.invalidRequest, "the header \(name) has an invalid name or value")
            }
        }
        return try refusing(url) { () throws(EgressError) in try EgressURL.parse(url) }
    }

    /// One checked request: gate, then a pinned transfer within the remaining time.
    private func hop(
        _ url: EgressURL, deadline: ContinuousClock.Instant, method: String, headers: [(String, String)],
        body: Data?, maxBytes: Int, stopEarly: Bool
    ) async throws -> TransferOutcome {
        let request = try await prepare(url, deadline: deadline, method: method, headers: headers, body: body, maxBytes: maxBytes, stopEarly: stopEarly)
        do {
            return try await CurlTransfer.perform(request, counter: counter)
        } catch {
            logger?.notice("egress failed", metadata: ["url": "\(url)", "error": "\(error)"])
            throw error
        }
    }

    /// The gate, then the transfer as curl will run it: pinned to the checked addresses, within the remaining time.
    private func prepare(
        _ url: EgressURL, deadline: ContinuousClock.Instant, method: String, headers: [(String, String)],
        body: Data?, maxBytes: Int, stopEarly: Bool
    ) async throws -> TransferRequest {
        let addresses = try await gate(url, deadline: deadline)
        let remaining = milliseconds(until: deadline)
        guard remaining > 0 else { throw EgressError(.timeout, "the request to \(url.host) timed out") }
        return TransferRequest(
            url: url, checkedAddresses: addresses, pinsHostName: url.literalAddress == nil,
            method: method, headers: headers, body: body, maxBytes: maxBytes,
            connectTimeoutMs: max(1, min(Int(limits.connectTimeout * 1000), remaining)),
            totalTimeoutMs: remaining, stopAfterNon2xxHeaders: stopEarly, policy: policy
        )
    }

    /// The addresses `url` may be dialled at, or an error naming why not.
    private func gate(_ url: EgressURL, deadline: ContinuousClock.Instant) async throws -> [IPAddress] {
        if Task.isCancelled { throw EgressError(.cancelled, "the request was cancelled") }
        logger?.debug("egress gate", metadata: ["url": "\(url)", "host": "\(url.host)"])
        if let literal = url.literalAddress {
            if let reason = policy.refusal(for: literal) { throw refused(url, reason) }
            return [literal]
        }
        if let reason = policy.refusal(forHostName: url.host) { throw refused(url, reason) }
        let addresses = try await HostResolver.resolve(url.host, until: deadline)
        for address in addresses {
            if let reason = policy.refusal(for: address) {
                throw refused(url, "\(url.host) resolves to a refused address: \(reason)")
            }
        }
        return addresses
    }

    private func refused(_ url: EgressURL, _ reason: String) -> EgressError {
        logger?.notice("egress refused", metadata: ["url": "\(url)", "reason": "\(reason)"])
        return EgressError(.forbiddenAddress, reason)
    }

    /// Logs URL refusals found while parsing, then rethrows them.
    private func refusing<T>(_ url: String, _ body: () throws(EgressError) -> T) throws(EgressError) -> T {
        do { return try body() } catch {
            logger?.notice("egress failed", metadata: ["url": "\(url.prefix(200))", "error": "\(error)"])
            throw error
        }
    }

    private func milliseconds(until deadline: ContinuousClock.Instant) -> Int {
        let left = ContinuousClock.now.duration(to: deadline)
        let ms = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
        return Int(clamping: ms)
    }
}
