import Foundation
import Logging

/// Receives what a running request reports: log lines, progress and partial outputs.
public protocol RunReporter: Sendable {
    func log(_ entry: LogEntry) async
    func progress(_ fraction: Double) async
    /// A partial output for clients of the output stream.
    func partial(_ output: JSONValue) async
}

extension RunReporter {
    /// Reporters without stream clients drop partial outputs.
    public func partial(_ output: JSONValue) async {}
}

/// What a running function can use: its request's identity, logging, progress, input fetching and output storage.
public struct RunContext: Sendable {
    public let requestID: String
    public let functionID: String
    public let tenant: String
    public let attempt: Int
    /// `sync_mode` of the input: outputs come back as `data:` URIs and nothing is stored.
    public let syncMode: Bool
    /// When the attempt's execution timeout ends.
    public let deadline: Date?
    public let logger: Logger
    private let reporter: any RunReporter
    private let fetcher: any InputFetcher
    private let files: any FileStore
    private let publicURL: String
    private let naming: FileNaming
    private let now: @Sendable () -> Date

    /// - Parameter naming: names stored outputs after `tenant` and decides which store files inputs may name; the
    ///   host passes the one keyed by its storage secret.
    public init(
        requestID: String, functionID: String, tenant: String, attempt: Int, syncMode: Bool, deadline: Date?,
        logger: Logger, reporter: any RunReporter, fetcher: any InputFetcher, files: any FileStore, publicURL: String,
        naming: FileNaming = .ephemeral(), now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.requestID = requestID
        self.functionID = functionID
        self.tenant = tenant
        self.attempt = attempt
        self.syncMode = syncMode
        self.deadline = deadline
        self.logger = logger
        self.reporter = reporter
        self.fetcher = fetcher
        self.files = files
        self.publicURL = publicURL
        self.naming = naming
        self.now = now
    }

    /// Adds a line to the request's logs (visible in status with `logs=1`).
    public func log(_ message: String, level: LogEntry.Level = .info) async {
        await reporter.log(LogEntry(message: message, level: level, timestamp: now()))
    }

    /// Reports progress as a fraction in 0...1.
    public func progress(_ fraction: Double) async {
        await reporter.progress(min(max(fraction, 0), 1))
    }

    /// Emits a partial output: clients of fal's output stream (`POST /{owner}/{alias}/stream`) receive it as an
    /// event before the final output. Other surfaces ignore it.
    public func emit(_ partial: JSONValue) async {
        await reporter.partial(partial)
    }

    /// Fetches an input URL or data URI. A refused or failed fetch is the caller's error: 422 naming `field`.
    ///
    /// A URL of the host's own file store (`<publicURL>/files/…`) is read from the store directly — no HTTP round
    /// trip, so no egress check — but only when the request's tenant may read it; a file of another tenant answers
    /// exactly like a missing one (`file_not_found`).
    /// - Parameter maxBytes: the largest input accepted (default `FetchedInput.defaultMaxBytes`).
    public func fetch(_ url: String, field: String, maxBytes: Int? = nil) async throws -> FetchedInput {
        if let key = storeKey(of: url) {
            return try await readStored(key: key, url: url, field: field, maxBytes: maxBytes ?? FetchedInput.defaultMaxBytes)
        }
        do {
            return try await fetcher.fetch(url, maxBytes: maxBytes)
        } catch let error as InputFetchError {
            throw FunctionError.input(field: [field], code: error.code, message: error.message)
        }
    }

    /// The store key a URL names when it points at this host's files, else nil (query and fragment ignored).
    func storeKey(of url: String) -> String? {
        FileLocator(publicURL: publicURL, files: files).key(of: url)
    }

    private func readStored(key: String, url: String, field: String, maxBytes: Int) async throws -> FetchedInput {
        let notFound = FunctionError.input(field: [field], code: "file_not_found", message: "No file at \(url)")
        guard naming.isReadable(key: key, by: tenant), let size = try await files.size(key: key) else { throw notFound }
        guard size <= maxBytes else {
            throw FunctionError.input(field: [field], code: "too_large", message: "\(url) is larger than \(maxBytes) bytes")
        }
        guard let file = try await files.get(key: key) else { throw notFound }
        return FetchedInput(data: file.data, contentType: file.contentType)
    }

    /// Stores an output file and returns its record; in `sync_mode` the record carries a `data:` URI instead.
    public func store(_ data: Data, contentType: String, fileExtension: String, width: Int?, height: Int?) async throws -> ImageRecord {
        let key = naming.makeKey(tenant: tenant, fileExtension: fileExtension, now: now())
        let fileName = String(key.split(separator: "/").last ?? Substring(key))
        if syncMode {
            let url = "data:\(contentType);base64,\(data.base64EncodedString())"
            return ImageRecord(url: url, contentType: contentType, fileName: fileName, fileSize: data.count, width: width, height: height)
        }
        try await files.put(data, key: key, contentType: contentType)
        return ImageRecord(url: FileLocator(publicURL: publicURL, files: files).url(for: key, now: now()), contentType: contentType,
                           fileName: fileName, fileSize: data.count, width: width, height: height)
    }
}
