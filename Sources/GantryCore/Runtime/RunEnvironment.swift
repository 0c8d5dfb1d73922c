import Foundation
import Synchronization

/// What a run needs from the host besides the store: input fetching, output storage, the public base URL and the
/// tenant-scoped file naming.
public struct RunEnvironment: Sendable {
    public var fetcher: any InputFetcher
    public var files: any FileStore
    public var publicURL: PublicURL
    /// Names output files after their tenant and decides which store files a tenant's inputs may name.
    public var naming: FileNaming

    /// - Parameter naming: the host passes the naming keyed by its storage secret; the default, a fresh random key,
    ///   suits processes whose files need not outlive them.
    public init(fetcher: any InputFetcher, files: any FileStore, publicURL: PublicURL, naming: FileNaming = .ephemeral()) {
        self.fetcher = fetcher
        self.files = files
        self.publicURL = publicURL
        self.naming = naming
    }
}

/// The host's public base URL (no trailing slash). Known at start-up when configured, else set once the server is
/// bound (port 0 in tests picks the port only then).
public final class PublicURL: Sendable {
    private let value: Mutex<String>

    public init(_ value: String) {
        self.value = Mutex(Self.trimmed(value))
    }

    /// The current base URL.
    public var string: String { value.withLock { $0 } }

    /// Replaces the base URL (called once the bound port is known).
    public func set(_ newValue: String) {
        value.withLock { $0 = Self.trimmed(newValue) }
    }

    private static func trimmed(_ url: String) -> String {
        url.hasSuffix("/") ? String(url.dropLast()) : url
    }
}
