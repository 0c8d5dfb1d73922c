import ArgumentParser
import Foundation
import GantryCore
import GantryServer
import Logging

/// `gantry run <function-id> --input FILE|- [--out DIR]`: runs one request in this process (no server), with a
/// progress bar on stderr, writes output files under `--out` and prints the result JSON.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run one request in process and print its result JSON.")

    @Argument(help: "Function id, e.g. gantry/echo.") var functionID: String
    @Option(help: "Input JSON file, or - for standard input.") var input: String
    @Option(help: "Directory for output files.") var out: String = "./gantry-out"
    @Option(parsing: .upToNextOption, help: "CIDR ranges inputs may be fetched from despite the egress policy.") var allowEgress: [String] = []
    @OptionGroup var functionOptions: FunctionOptions

    func run() async throws {
        var logger = Logger(label: "gantry.run")
        logger.logLevel = .warning
        let registry: FunctionRegistry
        do {
            registry = try FunctionRegistry.load(functionsDirectory: functionOptions.functions, schemasDirectory: functionOptions.schemas, handlers: Handlers.all)
        } catch let error as ConfigurationError {
            throw ValidationError(error.message)
        }
        guard let function = registry.function(id: functionID) else {
            throw ValidationError("no function \(functionID); `gantry functions` lists them")
        }
        let raw = input == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: input))
        let value: JSONValue
        do { value = try JSONValue.parse(raw) } catch { throw ValidationError("--input is not valid JSON") }
        let validated: Data
        switch function.validate(value) {
        case .success(let result): validated = result.encoded()
        case .failure(let failure): return finish(FunctionError.validation(failure).body(), ok: false)
        }
        let outDirectory = URL(fileURLWithPath: out).standardizedFileURL
        let files = try LocalFileStore(root: outDirectory)
        let bar = ProgressBar()
        let reporter = LoggerReporter(logger: logger, onLog: { bar.log($0.message) }, onProgress: { bar.update($0) })
        let context = RunContext(
            requestID: UUID().uuidString.lowercased(), functionID: function.id, tenant: "local", attempt: 1,
            syncMode: value["sync_mode"]?.boolValue ?? false, deadline: Date().addingTimeInterval(function.manifest.timeoutSeconds),
            logger: logger, reporter: reporter, fetcher: try EgressFetcher(allowEgress: allowEgress, logger: logger),
            files: files, publicURL: outDirectory.absoluteString.hasSuffix("/") ? String(outDirectory.absoluteString.dropLast()) : outDirectory.absoluteString)
        let outcome = await FunctionRunner.run(function, input: validated, context: context, control: RunControl())
        bar.done()
        switch outcome {
        case .succeeded(let body): finish(body, ok: true)
        case .failed(let error): finish(error.body(), ok: false)
        case .stopped(let reason): finish(FunctionError.failed("stopped: \(reason)", errorType: "request_timeout").body(), ok: false)
        }
    }

    private func finish(_ body: Data, ok: Bool) {
        let pretty = (try? JSONSerialization.jsonObject(with: body)).flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) } ?? body
        FileHandle.standardOutput.write(pretty + Data("\n".utf8))
        if !ok { Foundation.exit(1) }
    }
}

/// A one-line progress bar on standard error.
final class ProgressBar: @unchecked Sendable {
    private let lock = NSLock()
    private var fraction = 0.0
    private let started = Date()

    func update(_ value: Double) {
        lock.withLock { fraction = value }
        draw()
    }

    func log(_ line: String) {
        lock.withLock { FileHandle.standardError.write(Data("\r\u{1B}[K\(line)\n".utf8)) }
        draw()
    }

    func done() {
        update(1)
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func draw() {
        lock.withLock {
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
            let line = String(format: "\r[%@] %3d%% %.1fs", bar, Int(fraction * 100), Date().timeIntervalSince(started))
            FileHandle.standardError.write(Data(line.utf8))
        }
    }
}
