/// A CIDR block such as `10.0.0.0/8` or `fc00::/7`.
///
/// Used both for the built-in refusal table of ``EgressPolicy`` and for the
/// operator's `--allow-egress` exceptions.
public struct IPRange: Sendable, Hashable, CustomStringConvertible {
    /// The first address of the block (host bits cleared).
    public let network: IPAddress
    /// The number of leading bits that must match.
    public let prefixLength: Int

    /// Parses `address/prefix`; a bare address means a single-address block.
    ///
    /// IPv4 must be written as a plain dotted quad here. The lenient `inet_aton`
    /// forms that ``IPAddress/parse(_:)`` accepts would turn a typo such as
    /// `10/8` into `0.0.0.10/8`, silently allowing a different network.
    /// Host bits below the prefix are ignored, so `10.1.2.3/8` means `10.0.0.0/8`.
    public init?(cidr: String) {
        let pieces = cidr.split(separator: "/", omittingEmptySubsequences: false)
        guard pieces.count == 1 || pieces.count == 2 else { return nil }
        let addressText = String(pieces[0])
        guard let address = IPAddress.parse(addressText) else { return nil }
        if address.family == .v4 {
            let parts = addressText.split(separator: ".", omittingEmptySubsequences: false)
            let dottedQuad = parts.count == 4 && parts.allSatisfy { part in
                !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber)
                    && (part == "0" || !part.hasPrefix("0"))
            }
            guard dottedQuad else { return nil }
        } else if addressText.contains("%") {
            return nil
        }
        let maxLength = address.bytes.count * 8
        var length = maxLength
        if pieces.count == 2 {
            let text = pieces[1]
            guard !text.isEmpty, text.count <= 3, text.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let parsed = Int(text), parsed <= maxLength else { return nil }
            length = parsed
        }
        self.init(address, prefixLength: length)
    }

    /// Creates the block of `prefixLength` leading bits of `address`.
    public init(_ address: IPAddress, prefixLength: Int) {
        let maxLength = address.bytes.count * 8
        let length = max(0, min(prefixLength, maxLength))
        self.prefixLength = length
        self.network = IPAddress(bytes: Self.mask(address.bytes, length))!
    }

    /// Whether `address` lies inside this block; addresses of the other family never do.
    public func contains(_ address: IPAddress) -> Bool {
        guard address.family == network.family else { return false }
        return Self.mask(address.bytes, prefixLength) == network.bytes
    }

    /// `network/prefixLength` in canonical form.
    public var description: String { "\(network)/\(prefixLength)" }

    private static func mask(_ bytes: [UInt8], _ length: Int) -> [UInt8] {
        var result = bytes
        for index in result.indices {
            let bitsKept = length - index * 8
            if bitsKept >= 8 { continue }
            result[index] = bitsKept <= 0 ? 0 : result[index] & UInt8(truncatingIfNeeded: 0xff << (8 - bitsKept))
        }
        return result
    }
}
