import ArgumentParser
import Foundation

/// The `gantry` command: serve functions over fal's protocol, run one request in process, list functions.
@main
struct Gantry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gantry",
        abstract: "A self-hosted function host that speaks fal's queue and run protocol.",
        subcommands: [Serve.self, Run.self, Functions.self, Keys.self, Migrate.self])
}

/// Options shared by the commands that load functions.
struct FunctionOptions: ParsableArguments {
    @Option(help: "Directory of function manifests (env GANTRY_FUNCTIONS).")
    var functions: String = ProcessInfo.processInfo.environment["GANTRY_FUNCTIONS"] ?? "./functions"

    @Option(help: "Directory of JSON Schemas (env GANTRY_SCHEMAS).")
    var schemas: String = ProcessInfo.processInfo.environment["GANTRY_SCHEMAS"] ?? "./schemas"
}
