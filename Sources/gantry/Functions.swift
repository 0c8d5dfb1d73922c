import ArgumentParser
import Foundation
import GantryCore

/// `gantry functions`: lists the functions the manifests declare, with their schemas' titles.
struct Functions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the functions and their input/output schemas.")

    @OptionGroup var functionOptions: FunctionOptions

    func run() async throws {
        let registry: FunctionRegistry
        do {
            registry = try FunctionRegistry.load(functionsDirectory: functionOptions.functions, schemasDirectory: functionOptions.schemas, handlers: Handlers.all)
        } catch let error as ConfigurationError {
            throw ValidationError(error.message)
        }
        for function in registry.functions {
            let input = function.inputSchema["title"]?.stringValue ?? function.manifest.inputSchema
            let output = function.outputSchema["title"]?.stringValue ?? function.manifest.outputSchema
            let title = function.manifest.title.map { " — \($0)" } ?? ""
            print("\(function.id)\(title)\n    input: \(input)\n    output: \(output)\n    concurrency \(function.manifest.concurrency), timeout \(Int(function.manifest.timeoutSeconds)) s, max attempts \(function.manifest.maxAttempts)")
        }
    }
}
