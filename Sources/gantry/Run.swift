import ArgumentParser
import Foundation
import Signing
import GantryCore
import GantryServer
import Logging

/// `gantry run <function-id> --input FILE|- [--out DIR]`: runs one request in this process (no server), with a
/// progress bar on stderr, writes output files under `--out` and prints the result JSON.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run one request in process and print its result JSON.")

    @Argument(help: "Function id, e.g. gantry/echo.") var functionID: String
    @Option(help: "Input JSON file, or - for standard input.") var input: String
    @Option(help: "Directory for output files (they land in DIR/files/…, the path the printed file:// URLs name).")
    var out: String = "./gantry-out"
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
        let admitted: RequestQueue.Admitted
        do {
            admitted = try RequestQueue.Admitted(function, input: value)
        } catch {
            return finish(error.body(), ok: false)
        }
        // Outputs are named like the host's (`yyyy-mm-dd/<name>`) and printed as `file://DIR/files/<key>`, the
        // store's URL scheme; the store's root is therefore DIR/files.
        let outDirectory = URL(fileURLWithPath: out).standardizedFileURL
        let files = try LocalFileStore(root: outDirectory.appendingPathComponent("files"))
        let base = outDirectory.absoluteString.hasSuffix("/") ? String(outDirectory.absoluteString.dropLast()) : outDirectory.absoluteString
        let environment = RunEnvironment(fetcher: try EgressFetcher(allowEgress: allowEgress, logger: logger), files: files, publicURL: PublicURL(base))
        let executor = RunExecutor(functions: [function], environment: environment, logger: logger)
        let bar = ProgressBar()
        let reporter = LoggerReporter(logger: logger, onLog: { bar.log($0.message) }, onProgress: { bar.update($0) })
        let outcome = await executor.run(
            function, input: admitted.input,
            identity: .init(requestID: UUID.secureRandom().lowercasedString, tenant: "local", syncMode: admitted.syncMode),
            reporter: reporter, control: RunControl())
        bar.done()
        switch outcome.completion(timeoutSeconds: function.manifest.timeoutSeconds) ?? .failed(Completion.stoppedError) {
        case .succeeded(let body): finish(body, ok: true)
        case let completion: finish(completion.error!.body(), ok: false)
        }
    }

    private func finish(_ body: Data, ok: Bool) {
        let pretty = (try? JSONSerialization.jsonObject(with: body)).flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) } ?? body
        FileHandle.standardOutput.write(pretty + Data("\n".utf8))
        if !ok { Foundation.exit(1) }
    }
}
