import Foundation

/// The URLs stored files are handed out under, and which URLs name a stored file.
///
/// A file's URL is `<publicURL>/files/<key>`, served by any node, unless the store hands out direct URLs (an S3
/// store with presigned GETs): then image records carry the store's own URL. Either kind, given back as an input,
/// is read from the store directly, under the caller's tenant.
public struct FileLocator: Sendable {
    public let publicURL: String
    public let files: any FileStore

    public init(publicURL: String, files: any FileStore) {
        self.publicURL = publicURL
        self.files = files
    }

    /// The URL a new output file is handed out under.
    public func url(for key: String, now: Date) -> String {
        files.directURL(key: key, now: now) ?? "\(publicURL)/files/\(key)"
    }

    /// The key a URL of this host's files names (query and fragment ignored), or nil.
    public func key(of url: String) -> String? {
        let prefix = publicURL + "/files/"
        if url.hasPrefix(prefix) { return String(url.dropFirst(prefix.count).prefix { $0 != "?" && $0 != "#" }) }
        return files.key(ofDirectURL: url)
    }
}
