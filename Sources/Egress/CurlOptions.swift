import CCurl
import CCurlShim
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Configures an easy handle for one guarded hop and hosts the C callbacks.
///
/// The callbacks are closures that capture nothing (so they convert to C function
/// pointers); they find their ``TransferState`` through curl's userdata pointer.
enum CurlOptions {
    /// Owns the curl_slist values, which must stay alive until the handle is cleaned up.
    struct SlistOwner {
        private var lists: [UnsafeMutablePointer<curl_slist>] = []

        mutating func make(_ lines: [String]) -> UnsafeMutablePointer<curl_slist>? {
            var list: UnsafeMutablePointer<curl_slist>?
            for line in lines { list = curl_slist_append(list, line) }
            if let list { lists.append(list) }
            return list
        }

        mutating func freeAll() {
            lists.forEach { curl_slist_free_all($0) }
            lists.removeAll()
        }
    }

    static func configure(
        _ handle: UnsafeMutableRawPointer, _ request: TransferRequest,
        userdata: UnsafeMutableRawPointer, lists: inout SlistOwner
    ) throws(EgressError) {
        func check(_ code: CURLcode, _ what: String) throws(EgressError) {
            guard code == CURLE_OK else {
                throw EgressError(.transport, "could not configure the request (\(what): \(String(cString: curl_easy_strerror(code))))")
            }
        }
        func long(_ option: CURLoption, _ value: Int) throws(EgressError) {
            try check(ccurl_setopt_long(handle, option, value), "option \(option.rawValue)")
        }
        func string(_ option: CURLoption, _ value: String) throws(EgressError) {
            try check(ccurl_setopt_string(handle, option, value), "option \(option.rawValue)")
        }
        func pointer(_ option: CURLoption, _ value: UnsafeMutableRawPointer) throws(EgressError) {
            try check(ccurl_setopt_pointer(handle, option, value), "option \(option.rawValue)")
        }

        try string(CURLOPT_URL, request.url.absolute)
        // Signals are process-wide; curl must never use them from a worker thread.
        try long(CURLOPT_NOSIGNAL, 1)
        try string(CURLOPT_PROTOCOLS_STR, "http,https")
        try string(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        // Redirects are followed by EgressClient so that every hop is re-checked.
        try long(CURLOPT_FOLLOWLOCATION, 0)
        // A proxy from the environment would resolve names itself and bypass the policy.
        try string(CURLOPT_PROXY, "")
        try string(CURLOPT_NOPROXY, "*")
        try string(CURLOPT_USERAGENT, "gantry-egress/1")
        try long(CURLOPT_CONNECTTIMEOUT_MS, request.connectTimeoutMs)
        try long(CURLOPT_TIMEOUT_MS, request.totalTimeoutMs)
        // No CURLOPT_MAXFILESIZE: the header and body callbacks enforce the cap, and
        // curl's own check would pre-empt them with a less specific error.

        if request.pinsHostName {
            // curl would otherwise do its own lookup, which a rebinding DNS server
            // could answer differently from the one we checked.
            let addresses = request.checkedAddresses
                .map { $0.family == .v6 ? "[\($0)]" : $0.description }
                .joined(separator: ",")
            var names = [request.url.host]
            if request.url.host.hasSuffix(".") { names.append(String(request.url.host.dropLast())) }
            let entries = names.map { "\($0):\(request.url.port):\(addresses)" }
            try check(ccurl_setopt_slist(handle, CURLOPT_RESOLVE, lists.make(entries)), "address pinning")
        }

        try check(ccurl_setopt_opensocket_callback(handle, openSocket), "socket guard")
        try pointer(CURLOPT_OPENSOCKETDATA, userdata)
        try check(ccurl_setopt_write_callback(handle, CURLOPT_WRITEFUNCTION, writeBody), "body callback")
        try pointer(CURLOPT_WRITEDATA, userdata)
        try check(ccurl_setopt_write_callback(handle, CURLOPT_HEADERFUNCTION, readHeader), "header callback")
        try pointer(CURLOPT_HEADERDATA, userdata)
        try long(CURLOPT_NOPROGRESS, 0)
        try check(ccurl_setopt_xferinfo_callback(handle, checkCancelled), "progress callback")
        try pointer(CURLOPT_XFERINFODATA, userdata)

        try configureMethod(handle, request, check: check)
        // "Expect:" with no value stops curl from waiting a second for 100-continue.
        let headerLines = request.headers.map { "\($0.0): \($0.1)" } + ["Expect:"]
        try check(ccurl_setopt_slist(handle, CURLOPT_HTTPHEADER, lists.make(headerLines)), "headers")
    }

    private static func configureMethod(
        _ handle: UnsafeMutableRawPointer, _ request: TransferRequest,
        check: (CURLcode, String) throws(EgressError) -> Void
    ) throws(EgressError) {
        let method = request.method.uppercased()
        if method == "HEAD" {
            try check(ccurl_setopt_long(handle, CURLOPT_NOBODY, 1), "method")
        } else if method != "GET" || request.body != nil {
            if method != "POST" {
                try check(ccurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method), "method")
            }
            let body = request.body ?? Data()
            try check(ccurl_setopt_long(handle, CURLOPT_POST, 1), "method")
            try check(ccurl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)), "body size")
            // COPYPOSTFIELDS copies the bytes, so the Data may go away before the transfer.
            let code = body.withUnsafeBytes { raw -> CURLcode in
                let base = raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
                return ccurl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: base))
            }
            try check(code, "body")
        }
    }

    /// Second guard against rebinding and parser tricks: whatever address curl is about
    /// to dial must be one we checked and must still pass the policy.
    static let openSocket: curl_opensocket_callback = { userdata, _, address in
        let state = TransferState.from(userdata)
        guard let address else { return CURL_SOCKET_BAD }
        let raw = UnsafeRawPointer(address) + ccurl_sockaddr_offset()
        guard let target = IPAddress(sockaddr: raw) else {
            state.refusal = "connections over this address family are not allowed"
            return CURL_SOCKET_BAD
        }
        if let reason = state.policy.refusal(for: target) {
            state.refusal = reason
            return CURL_SOCKET_BAD
        }
        guard state.checkedAddresses.contains(target) else {
            state.refusal = "address \(target) was not among the checked addresses for this host"
            return CURL_SOCKET_BAD
        }
        var type = address.pointee.socktype
        #if canImport(Glibc)
        type |= Int32(SOCK_CLOEXEC.rawValue)
        #endif
        return socket(address.pointee.family, type, address.pointee.protocol)
    }

    static let writeBody: curl_write_callback = { data, size, count, userdata in
        let state = TransferState.from(userdata)
        let length = size * count
        state.counter.total.add(length, ordering: .relaxed)
        if let sink = state.sink {
            state.streamed += length
            guard state.streamed <= state.maxBytes else {
                state.streamedTooLarge = true
                return 0
            }
            sink.deliverHead(status: state.status, headers: state.headers)
            guard let data, length > 0 else { return length }
            return sink.push(Data(bytes: data, count: length)) ? length : 0
        }
        guard state.body.count + length <= state.maxBytes else {
            state.streamedTooLarge = true
            return 0
        }
        if let data, length > 0 {
            data.withMemoryRebound(to: UInt8.self, capacity: length) { state.body.append($0, count: length) }
        }
        return length
    }

    static let readHeader: curl_write_callback = { data, size, count, userdata in
        let state = TransferState.from(userdata)
        let length = size * count
        state.counter.total.add(length, ordering: .relaxed)
        guard let data else { return length }
        let line = data.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
        return HeaderParser.consume(line, into: state) ? length : 0
    }

    static let checkCancelled: curl_xferinfo_callback = { userdata, _, _, _, _ in
        TransferState.from(userdata).cancelled.load(ordering: .relaxed) ? 1 : 0
    }
}
