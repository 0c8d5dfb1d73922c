import Testing
@testable import Egress

/// The refusal table: every non-public block, the metadata endpoints, and IPv6
/// forms judged by the IPv4 address they carry.
struct EgressPolicyTests {
    private func ip(_ text: String) throws -> IPAddress { try #require(IPAddress.parse(text)) }

    static let refused = [
        "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254", "100.100.100.200",
        "127.0.0.1", "127.255.255.254", "169.254.0.1", "169.254.169.254", "172.16.0.1", "172.31.255.255",
        "192.0.0.1", "192.0.0.192", "192.0.2.1", "192.88.99.1", "192.168.1.1", "198.18.0.1", "198.19.255.255",
        "198.51.100.7", "203.0.113.9", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
        // Odd spellings of loopback and metadata.
        "2130706433", "0x7f000001", "0177.0.0.1", "127.1", "127.0.1", "0x7f.1", "169.254.43518", "0",
        // IPv6 special blocks.
        "::", "::1", "[::1]", "fc00::1", "fd00:ec2::254", "fe80::1", "fe80::1%eth0", "[fe80::1%25eth0]",
        "fec0::1", "ff02::1", "ff05::1:3", "2001:db8::1", "100::1", "2001::1", "2001:0:4136:e378::1", "64:ff9b:1::1",
        "::2:3", "4000::1", "fe00::1",
        // IPv4 carried in IPv6.
        "::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:0.0.0.0",
        "::127.0.0.1", "::10.0.0.1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::192.168.0.1",
        "2002:7f00:1::", "2002:a9fe:a9fe::1", "2002:0a00:0001:1234::5",
    ]

    static let allowed = [
        "8.8.8.8", "1.1.1.1", "93.184.216.34", "172.32.0.1", "172.15.255.255", "100.128.0.1", "100.63.255.255",
        "169.253.255.255", "192.0.1.1", "192.169.0.1", "198.20.0.1", "223.255.255.255", "134744072",
        "2606:4700::1", "2a00:1450:4001::1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808",
        "2002:808:808::1",
    ]

    @Test(arguments: refused)
    func refusesNonPublicAddresses(text: String) throws {
        let address = try ip(text)
        #expect(EgressPolicy().refusal(for: address) != nil)
    }

    @Test(arguments: allowed)
    func allowsPublicAddresses(text: String) throws {
        let address = try ip(text)
        #expect(EgressPolicy().refusal(for: address) == nil)
    }

    @Test func reasonsNameTheKindAndAddress() throws {
        let policy = EgressPolicy()
        #expect(policy.refusal(for: try ip("2130706433")) == "loopback address 127.0.0.1 is not allowed")
        #expect(policy.refusal(for: try ip("::1")) == "loopback address ::1 is not allowed")
        #expect(policy.refusal(for: try ip("10.1.2.3"))?.contains("private") == true)
        for metadata in ["169.254.169.254", "100.100.100.200", "fd00:ec2::254"] {
            #expect(policy.refusal(for: try ip(metadata))?.contains("metadata") == true)
        }
        let mapped = try #require(policy.refusal(for: try ip("::ffff:127.0.0.1")))
        #expect(mapped.contains("::ffff:127.0.0.1") && mapped.contains("loopback address 127.0.0.1"))
        let sixToFour = try #require(policy.refusal(for: try ip("2002:a9fe:a9fe::")))
        #expect(sixToFour.contains("169.254.169.254"))
    }

    @Test func allowlistOverridesOnlyItsRange() throws {
        let policy = EgressPolicy(allowedRanges: [try #require(IPRange(cidr: "127.0.0.1/32"))])
        #expect(policy.refusal(for: try ip("127.0.0.1")) == nil)
        #expect(policy.refusal(for: try ip("127.1")) == nil)
        #expect(policy.refusal(for: try ip("127.0.0.2")) != nil)
        #expect(policy.refusal(for: try ip("::1")) != nil)
        #expect(policy.refusal(for: try ip("169.254.169.254")) != nil)
        // The mapped form reaches the same socket, so it follows the IPv4 verdict.
        #expect(policy.refusal(for: try ip("::ffff:127.0.0.1")) == nil)

        let v6 = EgressPolicy(allowedRanges: [try #require(IPRange(cidr: "fd00::/8"))])
        #expect(v6.refusal(for: try ip("fd12::1")) == nil)
        #expect(v6.refusal(for: try ip("fc00::1")) != nil)
    }

    @Test func metadataHostNamesAreRefused() {
        let policy = EgressPolicy()
        #expect(policy.refusal(forHostName: "metadata.google.internal") != nil)
        #expect(policy.refusal(forHostName: "Metadata.Google.Internal.") != nil)
        #expect(policy.refusal(forHostName: "example.com") == nil)
    }

    @Test(arguments: [
        ("127.0.0.1/32", "127.0.0.1/32"), ("10.0.0.0/8", "10.0.0.0/8"), ("10.1.2.3/8", "10.0.0.0/8"),
        ("0.0.0.0/0", "0.0.0.0/0"), ("192.168.1.7", "192.168.1.7/32"), ("::1/128", "::1/128"),
        ("fc00::/7", "fc00::/7"), ("2001:db8::1/32", "2001:db8::/32"), ("::/0", "::/0"),
    ])
    func parsesCIDR(text: String, canonical: String) throws {
        #expect(try #require(IPRange(cidr: text)).description == canonical)
    }

    @Test(arguments: [
        "", "/8", "10/8", "127.1/32", "0x7f000001/32", "010.0.0.0/8", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/",
        "10.0.0.0/8/8", "::1/129", "fe80::1%eth0/64", "example.com/24", "10.0.0.0/ 8",
    ])
    func rejectsBadCIDR(text: String) {
        #expect(IPRange(cidr: text) == nil)
    }

    @Test func rangeContainment() throws {
        let range = try #require(IPRange(cidr: "172.16.0.0/12"))
        #expect(range.contains(try ip("172.31.255.255")))
        #expect(!range.contains(try ip("172.32.0.0")))
        #expect(!range.contains(try ip("::ffff:172.16.0.1")))
        let odd = try #require(IPRange(cidr: "100.64.0.0/10"))
        #expect(odd.contains(try ip("100.127.0.1")))
        #expect(!odd.contains(try ip("100.128.0.1")))
    }
}
