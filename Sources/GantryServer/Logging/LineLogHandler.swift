import Foundation
import Logging

/// The host's log format: one line per entry on standard error,
/// `2026-12-06T04:29:32+0000 notice gantry: key=value … [Source] message`.
///
/// Whatever a client controls ends up in log entries sooner or later (URLs, ids, file names, header values,
/// function messages), so every piece of text is escaped here, in the one place all entries pass: line breaks,
/// tabs, other control characters (terminal escape sequences included) and Unicode line separators are written as
/// `\n`, `\r`, `\t` or `\u{…}` (and a backslash as `\\`). A forged newline can therefore never start a line of
/// its own, and metadata values that could pass for more of the line are quoted (`quoted(_:)`).
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let output: @Sendable (String) -> Void

    /// - Parameter output: receives each finished line, newline included (standard error by default).
    public init(label: String, output: @escaping @Sendable (String) -> Void = LineLogHandler.standardError) {
        self.label = label
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        if let error = event.error { merged["error"] = "\(error)" }
        var line = "\(Self.timestamp()) \(event.level) \(Self.escape(label)):"
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            line += " \(Self.escape(key))=\(Self.quoted(value.description))"
        }
        line += " [\(Self.escape(event.source))] \(Self.escape(event.message.description))\n"
        output(line)
    }

    /// `text` with every character that could break or restyle a log line escaped.
    public static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var escaped = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": escaped.append(contentsOf: "\\n".unicodeScalars)
            case "\r": escaped.append(contentsOf: "\\r".unicodeScalars)
            case "\t": escaped.append(contentsOf: "\\t".unicodeScalars)
            case "\\": escaped.append(contentsOf: "\\\\".unicodeScalars)
            case _ where needsEscape(scalar):
                escaped.append(contentsOf: "\\u{\(String(scalar.value, radix: 16))}".unicodeScalars)
            default: escaped.append(scalar)
            }
        }
        return String(escaped)
    }

    /// A metadata value: escaped, and in double quotes (with `\"` inside) when it is empty or holds a space, `=`,
    /// a quote or a bracket, so a value can never pass for another `key=value` pair or the `[Source]` mark.
    public static func quoted(_ text: String) -> String {
        let escaped = escape(text)
        guard escaped.isEmpty || escaped.contains(where: { " =\"[]".contains($0) }) else { return escaped }
        return "\"" + escaped.replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\\" || scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    private static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Writes a line to standard error in one `write` call.
    public static let standardError: @Sendable (String) -> Void = { line in
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(STDERR_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { break }
                offset += written
            }
        }
    }
}
