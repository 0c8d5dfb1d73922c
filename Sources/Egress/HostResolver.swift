#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CCurl  // brings SOCK_STREAM into scope in release builds, where Glibc alone did not

/// Resolves host names with the system resolver, off the cooperative pool.
///
/// Every address returned is reported (IPv4 and IPv6, no AI_ADDRCONFIG filtering)
/// because the policy refuses a name if *any* of its addresses is refused: a
/// name that mixes public and private records must not get a second chance
/// through whichever record the connection happens to pick.
enum HostResolver {
    /// All distinct addresses for `host`, in resolver order.
    ///
    /// - Throws: `.dnsFailure` when the name does not resolve (fail closed),
    ///   `.timeout` at `deadline`, `.cancelled` on task cancellation.
    static func resolve(_ host: String, until deadline: ContinuousClock.Instant) async throws -> [IPAddress] {
        try await BlockingBridge.run(
            until: deadline,
            timeoutError: EgressError(.timeout, "resolving \(host) took too long")
        ) {
            lookup(host)
        }
    }

    /// The blocking lookup itself.
    static func lookup(_ host: String) -> Result<[IPAddress], EgressError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0, let first = list else {
            let reason = status == 0 ? "no addresses" : String(cString: gai_strerror(status))
            return .failure(EgressError(.dnsFailure, "the host \(host) could not be resolved (\(reason))"))
        }
        defer { freeaddrinfo(first) }
        var addresses: [IPAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let raw = entry.pointee.ai_addr, let address = IPAddress(sockaddr: UnsafeRawPointer(raw)),
               !addresses.contains(address) {
                addresses.append(address)
            }
            cursor = entry.pointee.ai_next
        }
        guard !addresses.isEmpty else {
            return .failure(EgressError(.dnsFailure, "the host \(host) resolved to no usable address"))
        }
        return .success(addresses)
    }
}

extension IPAddress {
    /// Reads the address out of a `sockaddr_in` or `sockaddr_in6`; nil for other families.
    init?(sockaddr raw: UnsafeRawPointer) {
        let family = raw.loadUnaligned(as: sockaddr.self).sa_family
        switch Int32(family) {
        case AF_INET:
            let address = raw.loadUnaligned(as: sockaddr_in.self).sin_addr
            self.init(bytes: withUnsafeBytes(of: address) { Array($0) })
        case AF_INET6:
            let address = raw.loadUnaligned(as: sockaddr_in6.self).sin6_addr
            self.init(bytes: withUnsafeBytes(of: address) { Array($0) })
        default:
            return nil
        }
    }
}
