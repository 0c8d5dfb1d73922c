#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address, as judged by ``EgressPolicy``.
///
/// Zone identifiers (`%eth0`) are accepted when parsing but not kept: the policy
/// judges the address itself, and a zone never makes a refused address safe.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address family.
    public enum Family: Sendable, Hashable {
        /// A 32-bit IPv4 address.
        case v4
        /// A 128-bit IPv6 address.
        case v6
    }

    /// The address family.
    public let family: Family
    /// The address in network byte order: 4 bytes for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    /// Creates an IPv4 address from its 32-bit value (127.0.0.1 is `0x7f00_0001`).
    public init(ipv4 value: UInt32) {
        family = .v4
        bytes = [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
    }

    /// Creates an address from 4 (IPv4) or 16 (IPv6) network-order bytes.
    public init?(bytes: [UInt8]) {
        switch bytes.count {
        case 4: family = .v4
        case 16: family = .v6
        default: return nil
        }
        self.bytes = bytes
    }

    /// The IPv4 value as an integer; nil for IPv6.
    public var ipv4Value: UInt32? {
        guard family == .v4 else { return nil }
        return bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// Parses an address literal the way the networking stack would interpret it.
    ///
    /// IPv4 accepts every `inet_aton` spelling (1–4 parts, each decimal, `0`-prefixed
    /// octal or `0x` hex, the last part filling the remaining bytes), because an
    /// attacker will use exactly those spellings to smuggle `127.0.0.1` past a
    /// naive dotted-quad check. IPv6 accepts brackets, zone ids (`%eth0` or the
    /// URL-escaped `%25eth0`) and embedded dotted tails.
    public static func parse(_ host: String) -> IPAddress? {
        if host.contains(":") || host.hasPrefix("[") { return parseIPv6(host) }
        return parseIPv4(host)
    }

    private static func parseIPv4(_ text: String) -> IPAddress? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { return nil }
        var values: [UInt64] = []
        for part in parts {
            guard let value = parseInetAtonPart(part) else { return nil }
            values.append(value)
        }
        // Leading parts are single bytes; the last part fills whatever is left.
        let lastBits = UInt64(8 * (5 - parts.count))
        var result: UInt64 = 0
        for value in values.dropLast() {
            guard value <= 0xff else { return nil }
            result = result << 8 | value
        }
        let last = values[values.count - 1]
        guard last < (1 << lastBits) else { return nil }
        result = result << lastBits | last
        return IPAddress(ipv4: UInt32(result))
    }

    private static func parseInetAtonPart(_ part: Substring) -> UInt64? {
        var digits = part
        var radix: UInt64 = 10
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            radix = 16
            digits = digits.dropFirst(2)
        } else if digits.count > 1, digits.hasPrefix("0") {
            radix = 8
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty else { return nil }
        var value: UInt64 = 0
        for character in digits {
            // hexDigitValue also accepts fullwidth digits, which no resolver treats as numbers.
            guard character.isASCII, let digit = character.hexDigitValue, UInt64(digit) < radix else { return nil }
            value = value * radix + UInt64(digit)
            // Anything past 32 bits is invalid; stopping early also avoids overflow.
            if value > UInt64(UInt32.max) { return nil }
        }
        return value
    }

    private static func parseIPv6(_ text: String) -> IPAddress? {
        var body = Substring(text)
        if body.hasPrefix("[") || body.hasSuffix("]") {
            guard body.hasPrefix("["), body.hasSuffix("]"), body.count > 2 else { return nil }
            body = body.dropFirst().dropLast()
        }
        if let percent = body.firstIndex(of: "%") {
            var zone = body[body.index(after: percent)...]
            if zone.hasPrefix("25"), zone.count > 2 { zone = zone.dropFirst(2) }
            guard !zone.isEmpty, zone.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                return nil
            }
            body = body[..<percent]
        }
        guard body.contains(":"), body.allSatisfy({ $0.isASCII && $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
        var storage = in6_addr()
        let ok = String(body).withCString { inet_pton(AF_INET6, $0, &storage) }
        guard ok == 1 else { return nil }
        let raw = withUnsafeBytes(of: storage) { Array($0) }
        return IPAddress(bytes: raw)
    }

    /// Canonical text: dotted quad for IPv4, RFC 5952 compressed form for IPv6.
    public var description: String {
        if family == .v4 { return bytes.map(String.init).joined(separator: ".") }
        var storage = in6_addr()
        withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: bytes) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &storage, &buffer, socklen_t(buffer.count)) != nil else {
            return bytes.map { String($0, radix: 16) }.joined(separator: ":")
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
