import Foundation
import Logging

/// Bytes fetched for a function input (an http(s) URL or a `data:` URI).
public struct FetchedInput: Sendable {
    public var data: Data
    public var contentType: String?

    public init(data: Data, contentType: String?) {
        self.data = data
        self.contentType = contentType
    }
}

/// Why an input could not be fetched: a short code (`forbidden_address`, `too_large`, …) and a sentence.
public struct InputFetchError: Error, Sendable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// Fetches function inputs under the host's egress policy. The server wires it to libcurl.
public protocol InputFetcher: Sendable {
    func fetch(_ url: String) async throws -> FetchedInput
}

/// Receives what a running request reports: log lines and progress.
public protocol RunReporter: Sendable {
    func log(_ entry: LogEntry) async
    func progress(_ fraction: Double) async
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
    private let now: @Sendable () -> Date

    public init(
        requestID: String, functionID: String, tenant: String, attempt: Int, syncMode: Bool, deadline: Date?,
        logger: Logger, reporter: any RunReporter, fetcher: any InputFetcher, files: any FileStore, publicURL: String,
        now: @escaping @Sendable () -> Date = { Date() }
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

    /// Fetches an input URL or data URI. A refused or failed fetch is the caller's error: 422 naming `field`.
    public func fetch(_ url: String, field: String) async throws -> FetchedInput {
        do {
            return try await fetcher.fetch(url)
        } catch let error as InputFetchError {
            throw FunctionError.input(field: [field], code: error.code, message: error.message)
        }
    }

    /// Stores an output file and returns its record; in `sync_mode` the record carries a `data:` URI instead.
    public func store(_ data: Data, contentType: String, fileExtension: String, width: Int?, height: Int?) async throws -> ImageRecord {
        let key = LocalFileStore.makeKey(fileExtension: fileExtension, now: now())
        let fileName = String(key.split(separator: "/").last ?? Substring(key))
        if syncMode {
            let url = "data:\(contentType);base64,\(data.base64EncodedString())"
            return ImageRecord(url: url, contentType: contentType, fileName: fileName, fileSize: data.count, width: width, height: height)
        }
        try await files.put(data, key: key, contentType: contentType)
        return ImageRecord(url: "\(publicURL)/files/\(key)", contentType: contentType, fileName: fileName, fileSize: data.count, width: width, height: height)
    }
}
