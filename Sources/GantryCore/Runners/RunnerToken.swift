import Foundation

/// A runner token: `ID:SECRET:GLOB[|GLOB…]`. Runners send `Authorization: Bearer ID:SECRET`; the globs say which
/// function ids the token may register and claim (`*` any run of characters, `/` included; `?` one character).
public struct RunnerToken: Sendable, Equatable {
    public let id: String
    public let secret: String
    public let globs: [String]

    public init(id: String, secret: String, globs: [String]) {
        self.id = id
        self.secret = secret
        self.globs = globs
    }

    /// Parses one `ID:SECRET:GLOB[|GLOB…]` entry; the error names what is wrong (never the secret).
    public init(parsing entry: String) throws {
        let parts = entry.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 else {
            throw ConfigurationError("runner token entries look like ID:SECRET:GLOB[|GLOB…] (an entry has \(parts.count) part(s))")
        }
        let (id, secret, globList) = (parts[0], parts[1], parts[2])
        guard Self.isValidID(id) else {
            throw ConfigurationError("runner token id '\(id)' must be 1–64 letters, digits, '.', '_' or '-'")
        }
        // Any non-empty secret is taken (the issue's own example is `gpu1:s3cret:…`); the docs ask for long random ones.
        guard !secret.isEmpty else { throw ConfigurationError("runner token \(id) has an empty secret") }
        let globs = globList.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !globs.isEmpty else { throw ConfigurationError("runner token \(id) names no function glob") }
        self.init(id: id, secret: secret, globs: globs)
    }

    /// Parses a comma- or newline-separated list (blank and `#` lines ignored); duplicate ids are an error.
    public static func parseList(_ text: String) throws -> [RunnerToken] {
        let tokens = try text.split(whereSeparator: { $0 == "," || $0.isNewline })
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            .map(RunnerToken.init(parsing:))
        var seen = Set<String>()
        for token in tokens where !seen.insert(token.id).inserted {
            throw ConfigurationError("runner token id \(token.id) is listed twice")
        }
        return tokens
    }

    /// Whether the token may serve `functionID`.
    public func allows(_ functionID: String) -> Bool {
        globs.contains { Self.glob($0, matches: functionID) }
    }

    /// Ids (of tokens and of instances) are plain: they become parts of lease owners and metric labels.
    public static func isValidID(_ text: String) -> Bool {
        (1...64).contains(text.utf8.count) && text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }

    /// Glob matching with `*` and `?`, iterative (no backtracking blow-up): the classic two-pointer walk.
    static func glob(_ pattern: String, matches text: String) -> Bool {
        let p = Array(pattern.utf8), t = Array(text.utf8)
        var (pi, ti) = (0, 0)
        var star = -1, resume = 0
        while ti < t.count {
            if pi < p.count && (p[pi] == UInt8(ascii: "?") || p[pi] == t[ti]) {
                pi += 1
                ti += 1
            } else if pi < p.count && p[pi] == UInt8(ascii: "*") {
                star = pi
                resume = ti
                pi += 1
            } else if star >= 0 {
                pi = star + 1
                resume += 1
                ti = resume
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}

/// Finds the runner token a presented `ID:SECRET` belongs to, comparing secrets in constant time.
public struct RunnerTokenRing: Sendable {
    private let tokens: [String: RunnerToken]

    public init(_ tokens: [RunnerToken]) {
        self.tokens = Dictionary(tokens.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Whether any runner token is configured (without one, the runner routes refuse every call).
    public var isEmpty: Bool { tokens.isEmpty }

    /// The token for a presented `ID:SECRET`, or nil.
    public func token(for presented: String) -> RunnerToken? {
        guard let colon = presented.firstIndex(of: ":") else { return nil }
        let id = String(presented[..<colon])
        let secret = Array(presented[presented.index(after: colon)...].utf8)
        // An unknown id still costs a comparison, so timing does not tell ids apart from wrong secrets.
        let known = tokens[id]
        let expected = Array((known?.secret ?? "\u{0}unknown-runner-token").utf8)
        var difference: UInt = secret.count == expected.count ? 0 : 1
        for index in 0..<max(secret.count, expected.count) {
            difference |= UInt((index < secret.count ? secret[index] : 0) ^ (index < expected.count ? expected[index] : 0))
        }
        return difference == 0 ? known : nil
    }
}
