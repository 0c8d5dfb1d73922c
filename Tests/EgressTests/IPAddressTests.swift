import Testing
@testable import Egress

/// Address parsing must agree with what the networking stack would dial, so every
/// legacy inet_aton spelling of an address parses to that address.
struct IPAddressTests {
    @Test(arguments: [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7f.0x0.0x0.0x1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0.0.0.0", "0.0.0.0"),
        ("255.255.255.255", "255.255.255.255"),
        ("4294967295", "255.255.255.255"),
        ("169.254.43518", "169.254.169.254"),
        ("8.8.8.8", "8.8.8.8"),
        ("10.0.0.1", "10.0.0.1"),
    ])
    func parsesIPv4Spellings(input: String, expected: String) throws {
        let address = try #require(IPAddress.parse(input))
        #expect(address.family == .v4)
        #expect(address.description == expected)
    }

    @Test(arguments: [
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("::", "::"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("fe80::1%25eth0", "fe80::1"),
        ("[fe80::1%25eth0]", "fe80::1"),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("::ffff:7f00:1", "::ffff:127.0.0.1"),
        ("FD00:EC2::254", "fd00:ec2::254"),
        ("2606:4700::1", "2606:4700::1"),
        ("64:ff9b::7f00:1", "64:ff9b::7f00:1"),
        ("2002:7f00:1::", "2002:7f00:1::"),
    ])
    func parsesIPv6Forms(input: String, expected: String) throws {
        let address = try #require(IPAddress.parse(input))
        #expect(address.family == .v6)
        #expect(address.bytes.count == 16)
        #expect(address.description == expected)
    }

    @Test(arguments: [
        "", "example.com", "localhost", "256.0.0.1", "1.2.3.4.5", "127..1", "127.0.0.1.", ".127.0.0.1",
        "08.0.0.1", "09", "0x", "0x1g", "4294967296", "1.16777216", "1.2.65536", "-1", "+1", "1.2.3.-4",
        "1.2.3.4 junk", " 1.2.3.4", "1.2.3.4 ", "１２７.0.0.1",
        "::1::", "[::1", "::1]", "[]", "fe80::1%", "fe80::1%25%", "::ffff:1.2.3", "12345::", "1:2:3:4:5:6:7:8:9",
        "[127.0.0.1]", "::1%eth0/x", "g::1",
    ])
    func rejectsInvalidStrings(input: String) {
        #expect(IPAddress.parse(input) == nil)
    }

    @Test func sameAddressInDifferentSpellingsIsEqual() {
        let spellings = ["127.0.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.1", "127.0.1", "0x7f.1"]
        let parsed = Set(spellings.compactMap(IPAddress.parse))
        #expect(parsed == [IPAddress(ipv4: 0x7f00_0001)])
        #expect(IPAddress.parse("::1") == IPAddress.parse("[0::1]"))
        #expect(IPAddress.parse("127.0.0.1") != IPAddress.parse("::ffff:127.0.0.1"))
    }

    @Test func bytesRoundTrip() throws {
        let address = try #require(IPAddress.parse("192.168.1.2"))
        #expect(address.bytes == [192, 168, 1, 2])
        #expect(address.ipv4Value == 0xc0a8_0102)
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
        #expect(IPAddress(bytes: [UInt8](repeating: 0, count: 16))?.description == "::")
    }
}
