import Foundation
import Signing

/// Names the files the host writes so that each name proves which tenant it was made for.
///
/// A key is `yyyy-mm-dd/<uuid-hex>-<tag>.<ext>`, where the tag is a keyed MAC of `<tenant>/<yyyy-mm-dd>/<uuid-hex>`
/// (`TokenSigner.tag`). Serving a file needs no lookup and stays public, like a CDN's; but when a function input
/// names a file of the host's own store, `isReadable(key:by:)` tells from the name alone whether the caller's tenant
/// may read it, so one tenant cannot feed another tenant's uploads or outputs to a function by guessing nothing more
/// than a URL it was never given.
public struct FileNaming: Sendable {
    private let signer: TokenSigner

    /// Names keyed by `signer` (the host's storage secret, so names survive restarts).
    public init(signer: TokenSigner) {
        self.signer = signer
    }

    /// Names keyed by a fresh random secret: for processes whose files need not outlive them (`gantry run`, tests).
    public static func ephemeral() -> FileNaming {
        FileNaming(signer: TokenSigner(secret: SecureRandom.bytes(32)))
    }

    /// A fresh key for a file of `tenant`, dated `now` (UTC).
    public func makeKey(tenant: String, fileExtension: String, now: Date = Date()) -> String {
        let day = dayStamp(now)
        let id = UUID.secureRandom().lowercasedString.replacingOccurrences(of: "-", with: "")
        return "\(day)/\(id)-\(tag(tenant: tenant, day: day, id: id)).\(fileExtension)"
    }

    /// Whether `tenant` may read the file under `key`: the key is well formed and its tag was made for `tenant`.
    /// Keys of other shapes (older untagged names included) are readable by no one.
    public func isReadable(key: String, by tenant: String) -> Bool {
        guard isValidFileKey(key) else { return false }
        let parts = key.split(separator: "/")
        let day = String(parts[0])
        guard let stem = parts[1].split(separator: ".", maxSplits: 1).first else { return false }
        let pieces = stem.split(separator: "-", omittingEmptySubsequences: false)
        guard pieces.count == 2, pieces[0].count == 32, pieces[1].count == 16,
              pieces.allSatisfy({ $0.allSatisfy(\.isHexDigit) }) else { return false }
        let expected = tag(tenant: tenant, day: day, id: String(pieces[0]))
        return constantTimeEqual(Array(expected.utf8), Array(pieces[1].utf8))
    }

    private func tag(tenant: String, day: String, id: String) -> String {
        signer.tag("\(tenant)/\(day)/\(id)", length: 16)
    }

    /// The extension for an uploaded file: the one of `fileName` when it is short and plain (1–8 ASCII letters or
    /// digits), else the one the content type maps to (`bin` when unknown).
    public static func fileExtension(fileName: String?, contentType: String?) -> String {
        if let fileName, let dot = fileName.lastIndex(of: "."), dot != fileName.startIndex {
            let ext = fileName[fileName.index(after: dot)...]
            if (1...8).contains(ext.count), ext.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) {
                return ext.lowercased()
            }
        }
        return GantryCore.fileExtension(forContentType: contentType ?? "")
    }
}
