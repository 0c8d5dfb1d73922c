/// Decides which addresses outbound traffic may reach.
///
/// Everything that is not a public unicast address is refused: loopback, private,
/// link-local, CGNAT, documentation, multicast and reserved blocks, plus the cloud
/// metadata endpoints that live inside them. IPv6 forms that carry an IPv4 address
/// (mapped, compatible, NAT64, 6to4) are judged by that IPv4 address, because the
/// packet ends up there. The operator's `allowedRanges` override every refusal.
public struct EgressPolicy: Sendable {
    /// Ranges the operator explicitly allowed (`--allow-egress CIDR...`); they win over refusals.
    public var allowedRanges: [IPRange]

    /// Creates a policy that refuses every non-public address except those in `allowedRanges`.
    public init(allowedRanges: [IPRange] = []) {
        self.allowedRanges = allowedRanges
    }

    /// A policy from the operator's CIDR strings (`--allow-egress`); throws naming the first that does not parse.
    public init(allowingCIDRs cidrs: [String]) throws(EgressError) {
        var ranges: [IPRange] = []
        for cidr in cidrs {
            guard let range = IPRange(cidr: cidr) else { throw EgressError(.invalidRequest, "--allow-egress: \(cidr) is not a CIDR range") }
            ranges.append(range)
        }
        self.init(allowedRanges: ranges)
    }

    /// nil when the address may be contacted, else the reason (e.g. "loopback address 127.0.0.1 is not allowed").
    public func refusal(for address: IPAddress) -> String? {
        if allowedRanges.contains(where: { $0.contains(address) }) { return nil }
        if address.family == .v6, let embedded = Self.embeddedIPv4(in: address) {
            guard let reason = refusal(for: embedded) else { return nil }
            return "address \(address) embeds IPv4 \(embedded); \(reason)"
        }
        guard let kind = Self.classify(address) else { return nil }
        return "\(kind) address \(address) is not allowed"
    }

    /// nil when the host name may be looked up, else the reason.
    ///
    /// Metadata services are refused by name as well as by address, so that a
    /// resolver configured to answer them with a routable address still cannot
    /// be used to reach them.
    public func refusal(forHostName name: String) -> String? {
        var normalized = name.lowercased()
        while normalized.hasSuffix(".") { normalized.removeLast() }
        if Self.metadataHostNames.contains(normalized) {
            return "cloud metadata host \(normalized) is not allowed"
        }
        return nil
    }

    private static let metadataHostNames: Set<String> = [
        "metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal",
    ]

    private static let metadataAddresses: Set<IPAddress> = Set(
        ["169.254.169.254", "169.254.170.2", "100.100.100.200", "192.0.0.192", "fd00:ec2::254"]
            .compactMap(IPAddress.parse)
    )

    private static func table(_ rows: [(String, String)]) -> [(IPRange, String)] {
        rows.map { (IPRange(cidr: $0.0)!, $0.1) }
    }

    private static let refusedIPv4 = table([
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared (CGNAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
    ])

    private static let refusedIPv6 = table([
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "local NAT64"),
        ("100::/64", "discard-only"),
        ("2001::/32", "Teredo"),
        ("2001:db8::/32", "documentation"),
        ("fc00::/7", "unique local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    ])

    private static let globalUnicast = IPRange(cidr: "2000::/3")!
    private static let mapped = IPRange(cidr: "::ffff:0:0/96")!
    private static let compatible = IPRange(cidr: "::/96")!
    private static let nat64 = IPRange(cidr: "64:ff9b::/96")!
    private static let sixToFour = IPRange(cidr: "2002::/16")!
    private static let unspecifiedOrLoopback = [IPRange(cidr: "::/128")!, IPRange(cidr: "::1/128")!]

    /// The IPv4 address a packet to `address` would really reach, for the IPv6
    /// forms that tunnel or translate to IPv4.
    static func embeddedIPv4(in address: IPAddress) -> IPAddress? {
        let bytes = address.bytes
        // :: and ::1 sit inside ::/96 but are IPv6 addresses in their own right.
        if unspecifiedOrLoopback.contains(where: { $0.contains(address) }) { return nil }
        if mapped.contains(address) || compatible.contains(address) || nat64.contains(address) {
            return IPAddress(bytes: Array(bytes[12..<16]))
        }
        if sixToFour.contains(address) {
            return IPAddress(bytes: Array(bytes[2..<6]))
        }
        return nil
    }

    /// The kind of non-public address, or nil for a public one.
    private static func classify(_ address: IPAddress) -> String? {
        if metadataAddresses.contains(address) { return "cloud metadata" }
        let rows = address.family == .v4 ? refusedIPv4 : refusedIPv6
        if let row = rows.first(where: { $0.0.contains(address) }) { return row.1 }
        // Only 2000::/3 is handed out as global unicast; refuse the rest rather
        // than enumerate every special block IANA may add.
        if address.family == .v6, !globalUnicast.contains(address) { return "non-global IPv6" }
        return nil
    }
}
