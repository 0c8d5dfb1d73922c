import Foundation

/// A hosted function as declared by a JSON manifest in `functions/`.
///
/// ```json
/// { "id": "gantry/echo", "handler": "gantry.echo", "title": "Echo",
///   "input_schema": "gantry/echo.input.json", "output_schema": "gantry/echo.output.json",
///   "concurrency": 64, "timeout_seconds": 60, "max_attempts": 3 }
/// ```
public struct FunctionManifest: Sendable, Codable, Equatable {
    /// The app id clients use, `owner/alias[/path]`.
    public var id: String
    /// The name of the Swift handler registered in the binary.
    public var handler: String
    public var title: String?
    public var description: String?
    /// Paths relative to the schemas directory.
    public var inputSchema: String
    public var outputSchema: String
    /// How many requests of this function run at once in one process.
    public var concurrency: Int
    /// Execution timeout of one attempt.
    public var timeoutSeconds: Double
    /// Attempts before a request whose runner keeps disappearing fails with `runner_disconnected`.
    public var maxAttempts: Int

    enum CodingKeys: String, CodingKey {
        case id, handler, title, description, concurrency
        case inputSchema = "input_schema", outputSchema = "output_schema"
        case timeoutSeconds = "timeout_seconds", maxAttempts = "max_attempts"
    }

    /// A manifest made in code (runner functions); file manifests are decoded.
    public init(id: String, handler: String, title: String? = nil, description: String? = nil, inputSchema: String,
                outputSchema: String, concurrency: Int = 1, timeoutSeconds: Double = 600, maxAttempts: Int = 3) {
        self.id = id
        self.handler = handler
        self.title = title
        self.description = description
        self.inputSchema = inputSchema
        self.outputSchema = outputSchema
        self.concurrency = concurrency
        self.timeoutSeconds = timeoutSeconds
        self.maxAttempts = maxAttempts
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        handler = try container.decode(String.self, forKey: .handler)
        title = try container.decodeIfPresent(String.self, forKey: .title)
        description = try container.decodeIfPresent(String.self, forKey: .description)
        inputSchema = try container.decode(String.self, forKey: .inputSchema)
        outputSchema = try container.decode(String.self, forKey: .outputSchema)
        concurrency = try container.decodeIfPresent(Int.self, forKey: .concurrency) ?? 1
        timeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .timeoutSeconds) ?? 600
        maxAttempts = try container.decodeIfPresent(Int.self, forKey: .maxAttempts) ?? 3
    }

    /// First segments no function id may have: the host's own route prefixes.
    public static let reservedOwners: Set<String> = ["runners", "files", "storage", "queue", "v1", "v2", "tasks", "functions", "health", "ready", "metrics"]

    /// Checks the values a manifest author can get wrong; the message names the field.
    public func validate() throws {
        let parts = id.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count < 2 || parts.contains(where: \.isEmpty) {
            throw ConfigurationError("manifest \(id): id must look like owner/alias[/path]")
        }
        if ["workflows", "comfy"].contains(String(parts[0])) || parts.contains("requests") {
            throw ConfigurationError("manifest \(id): id must not start with a namespace or contain 'requests'")
        }
        // The host's own route prefixes are not function owners (their paths skip API-key checks or mean files).
        if Self.reservedOwners.contains(String(parts[0])) {
            throw ConfigurationError("manifest \(id): '\(parts[0])' is reserved for the host's own routes")
        }
        if concurrency < 1 || concurrency > 1024 { throw ConfigurationError("manifest \(id): concurrency must be 1...1024") }
        if timeoutSeconds <= 0 { throw ConfigurationError("manifest \(id): timeout_seconds must be positive") }
        if maxAttempts < 1 { throw ConfigurationError("manifest \(id): max_attempts must be at least 1") }
    }
}

/// A configuration problem found at start-up; the message names the offending key or file.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
