import CCurl
import Foundation
import Synchronization

/// libcurl must be initialised once per process before any handle exists; a
/// global `let` gives a thread-safe, lazy, exactly-once call.
let curlGlobalInit: CURLcode = curl_global_init(Int(CURL_GLOBAL_ALL))

/// One HTTP exchange as the client wants it performed: a single hop, never a redirect.
struct TransferRequest: Sendable {
    var url: EgressURL
    /// The addresses that passed the policy; the connection must go to one of them.
    var checkedAddresses: [IPAddress]
    /// True when `url.host` is a name that curl must resolve to `checkedAddresses`.
    var pinsHostName: Bool
    var method: String
    var headers: [(String, String)]
    var body: Data?
    var maxBytes: Int
    var connectTimeoutMs: Int
    var totalTimeoutMs: Int
    /// Stop right after the headers of any non-2xx response (fetch needs only its status and Location).
    var stopAfterNon2xxHeaders: Bool
    var policy: EgressPolicy
}

/// What came back from one hop.
struct TransferOutcome: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: Data
}

/// Counts received bytes across all transfers of one client.
final class ByteCounter: Sendable {
    let total = Atomic<Int>(0)
}

/// Drives one libcurl easy handle on a dedicated thread.
enum CurlTransfer {
    /// Performs `request`; task cancellation aborts the transfer within about a second.
    static func perform(_ request: TransferRequest, counter: ByteCounter) async throws -> TransferOutcome {
        _ = curlGlobalInit
        let state = TransferState(request: request, counter: counter)
        let result = await withTaskCancellationHandler {
            await BlockingBridge.run { run(request, state) }
        } onCancel: {
            state.cancelled.store(true, ordering: .relaxed)
        }
        return try result.get()
    }

    static func run(_ request: TransferRequest, _ state: TransferState) -> Result<TransferOutcome, EgressError> {
        if state.cancelled.load(ordering: .relaxed) {
            return .failure(EgressError(.cancelled, "the request was cancelled"))
        }
        guard let handle = curl_easy_init() else {
            return .failure(EgressError(.transport, "could not create an HTTP handle"))
        }
        var lists = CurlOptions.SlistOwner()
        defer {
            curl_easy_cleanup(handle)
            lists.freeAll()
        }
        let userdata = Unmanaged.passUnretained(state).toOpaque()
        let code: CURLcode
        do {
            try CurlOptions.configure(handle, request, userdata: userdata, lists: &lists)
            code = withExtendedLifetime(state) { curl_easy_perform(handle) }
        } catch {
            return .failure(error)
        }
        return classify(code, request: request, state: state)
    }

    /// Turns curl's result plus what the callbacks recorded into an outcome or an error.
    private static func classify(_ code: CURLcode, request: TransferRequest, state: TransferState) -> Result<TransferOutcome, EgressError> {
        let host = request.url.host
        if let refusal = state.refusal {
            return .failure(EgressError(.forbiddenAddress, refusal))
        }
        if state.cancelled.load(ordering: .relaxed) {
            return .failure(EgressError(.cancelled, "the request was cancelled"))
        }
        if let declared = state.declaredTooLarge {
            return .failure(EgressError(.tooLarge, "the response from \(host) declares \(declared) bytes, more than the \(request.maxBytes)-byte limit"))
        }
        if state.streamedTooLarge || code == CURLE_FILESIZE_EXCEEDED {
            return .failure(EgressError(.tooLarge, "the response from \(host) exceeds the \(request.maxBytes)-byte limit"))
        }
        let outcome = TransferOutcome(status: state.status, headers: state.headers, body: state.body)
        if state.stoppedAfterHeaders { return .success(outcome) }
        switch code {
        case CURLE_OK:
            return .success(outcome)
        case CURLE_OPERATION_TIMEDOUT:
            return .failure(EgressError(.timeout, "the request to \(host) timed out"))
        case CURLE_COULDNT_RESOLVE_HOST:
            return .failure(EgressError(.dnsFailure, "the host \(host) could not be resolved"))
        case CURLE_COULDNT_CONNECT:
            return .failure(EgressError(.connectFailed, "could not connect to \(host) port \(request.url.port)"))
        case CURLE_UNSUPPORTED_PROTOCOL:
            return .failure(EgressError(.forbiddenScheme, "the \(request.url.scheme) scheme is not allowed"))
        case CURLE_URL_MALFORMAT:
            return .failure(EgressError(.invalidURL, "the URL \(request.url) is not valid"))
        case CURLE_ABORTED_BY_CALLBACK:
            return .failure(EgressError(.cancelled, "the request was cancelled"))
        default:
            // curl_easy_strerror is a fixed phrase; the error buffer is avoided on
            // purpose because it can mention local paths such as the CA bundle.
            let phrase = String(cString: curl_easy_strerror(code))
            return .failure(EgressError(.transport, "the request to \(host) failed: \(phrase)"))
        }
    }
}

/// Mutable per-transfer state shared with the C callbacks through the userdata pointer.
///
/// `@unchecked Sendable`: everything except `cancelled` is touched only by the
/// transfer thread (the callbacks run inside curl_easy_perform on that thread, and
/// the fields are read after it returns); `cancelled` is an atomic written by the
/// cancellation handler from any thread.
final class TransferState: @unchecked Sendable {
    let cancelled = Atomic<Bool>(false)
    let policy: EgressPolicy
    let checkedAddresses: [IPAddress]
    let maxBytes: Int
    let stopAfterNon2xxHeaders: Bool
    /// A HEAD reply's Content-Length describes a body that never comes: it is not held to `maxBytes`.
    let headOnly: Bool
    let counter: ByteCounter

    var status = 0
    var headers: [(name: String, value: String)] = []
    var body = Data()
    var refusal: String?
    var declaredTooLarge: Int?
    var streamedTooLarge = false
    var stoppedAfterHeaders = false
    /// Set for a streamed transfer: the body goes to it chunk by chunk instead of into `body`.
    var sink: BodySink?
    /// Body bytes handed to `sink` so far.
    var streamed = 0

    init(request: TransferRequest, counter: ByteCounter) {
        policy = request.policy
        checkedAddresses = request.checkedAddresses
        maxBytes = request.maxBytes
        stopAfterNon2xxHeaders = request.stopAfterNon2xxHeaders
        headOnly = request.method.uppercased() == "HEAD"
        self.counter = counter
    }

    static func from(_ pointer: UnsafeMutableRawPointer?) -> TransferState {
        Unmanaged<TransferState>.fromOpaque(pointer!).takeUnretainedValue()
    }
}
