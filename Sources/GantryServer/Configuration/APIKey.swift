import Foundation

/// One accepted API key. The token is what clients send (`Authorization: Key <token>`); the part before its first
/// `:` names the tenant, so `alice:s3cret` belongs to tenant `alice`.
public struct APIKey: Sendable, Equatable {
    public let token: String
    public let tenant: String

    public init(token: String) {
        self.token = token
        if let colon = token.firstIndex(of: ":") {
            tenant = String(token[..<colon])
        } else {
            tenant = token
        }
    }

    /// Parses a comma- or newline-separated list, ignoring blanks and `#` comment lines.
    public static func parseList(_ text: String) -> [APIKey] {
        text.split(whereSeparator: { $0 == "," || $0.isNewline })
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            .map(APIKey.init(token:))
    }
}

/// Finds the tenant of a presented token, comparing against every key in constant time so the response time says
/// nothing about how much of a key was right.
public struct KeyRing: Sendable {
    private let keys: [(token: [UInt8], tenant: String)]

    public init(_ keys: [APIKey]) {
        self.keys = keys.map { (Array($0.token.utf8), $0.tenant) }
    }

    /// Whether authentication is required at all.
    public var isEnabled: Bool { !keys.isEmpty }

    /// The tenant for a token, or nil.
    public func tenant(for presented: String) -> String? {
        let candidate = Array(presented.utf8)
        var match: String?
        for key in keys {
            // Every key is compared in full; no early exit on the first match either.
            if Self.constantTimeEquals(candidate, key.token) && match == nil { match = key.tenant }
        }
        return match
    }

    static func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        var difference: UInt = lhs.count == rhs.count ? 0 : 1
        let length = max(lhs.count, rhs.count)
        for index in 0..<length {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0
            difference |= UInt(left ^ right)
        }
        return difference == 0
    }
}
