import ArgumentParser
import Foundation
import GantryCore
import GantrySQLite

/// `gantry functions`: lists the functions the manifests declare, and the runner functions registered in the data
/// directory's store, with their schemas' titles and limits.
struct Functions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the functions (built in and registered by runners) and their schemas.")

    @OptionGroup var functionOptions: FunctionOptions
    @Option(help: "Data directory whose store holds runner registrations (env GANTRY_DATA_DIR).")
    var dataDir: String = ProcessInfo.processInfo.environment["GANTRY_DATA_DIR"] ?? "./gantry-data"

    func run() async throws {
        let registry: FunctionRegistry
        do {
            registry = try FunctionRegistry.load(functionsDirectory: functionOptions.functions, schemasDirectory: functionOptions.schemas, handlers: Handlers.all)
        } catch let error as ConfigurationError {
            throw ValidationError(error.message)
        }
        let registered = try await runnerFunctions()
        let replaced = Set(registered.map(\.id))
        for function in registry.functions where !replaced.contains(function.id) { print(describe(function, kind: "built in")) }
        for function in registered {
            print(describe(function, kind: registry.function(id: function.id) == nil ? "runner" : "runner, in place of the built-in one"))
        }
    }

    /// The runner functions in the data directory's SQLite store (none when there is no store yet).
    private func runnerFunctions() async throws -> [RegisteredFunction] {
        let path = URL(fileURLWithPath: dataDir).appendingPathComponent("gantry.sqlite").path
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let store = try SQLiteJobStore(path: path)
        defer { try? store.close() }
        return try await store.functionRegistrationList().compactMap { registration in
            guard let json = try? JSONValue.parse(registration.declaration) else { return nil }
            return try? RunnerFunctionDeclaration(json: json, loc: []).registeredFunction
        }
    }

    private func describe(_ function: RegisteredFunction, kind: String) -> String {
        let input = function.inputSchema["title"]?.stringValue ?? function.manifest.inputSchema
        let output = function.outputSchema["title"]?.stringValue ?? function.manifest.outputSchema
        let title = function.manifest.title.map { " — \($0)" } ?? ""
        return "\(function.id)\(title) (\(kind))\n    input: \(input)\n    output: \(output)\n"
            + "    concurrency \(function.manifest.concurrency), timeout \(Int(function.manifest.timeoutSeconds)) s, max attempts \(function.manifest.maxAttempts)"
    }
}
