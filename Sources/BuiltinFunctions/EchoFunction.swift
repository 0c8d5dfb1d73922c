import Foundation
import GantryCore

/// `gantry/echo`: returns its input. The diagnostic function tests and benchmarks use.
///
/// Optional fields shape the run: `delay_ms` (sleep that long, cancellably), `logs` (lines emitted while running,
/// spread over the delay), `progress` (report that many evenly spaced progress steps), `partials` (emit that many
/// partial outputs `{"partial": n}` for the output stream), and `fail_with` (fail with this message, status 500,
/// `error_type` `function_error`).
public struct EchoFunction: HostedFunction {
    public init() {}

    public func run(_ input: JSONValue, context: RunContext) async throws -> JSONValue {
        let delay = max(0, input["delay_ms"]?.doubleValue ?? 0)
        let lines = input["logs"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let steps = max(0, Int(input["progress"]?.doubleValue ?? 0))
        let partials = max(0, Int(input["partials"]?.doubleValue ?? 0))
        let slices = max(lines.count, steps, partials, 1)
        for slice in 0..<slices {
            if delay > 0 {
                try await Task.sleep(for: .milliseconds(delay / Double(slices)))
            }
            if slice < lines.count { await context.log(lines[slice]) }
            if steps > 0, slice < steps { await context.progress(Double(slice + 1) / Double(steps)) }
            if slice < partials { await context.emit(.object(["partial": .number(Double(slice + 1))])) }
        }
        try Task.checkCancellation()
        if let message = input["fail_with"]?.stringValue {
            throw FunctionError.failed(message, errorType: "function_error", status: 500)
        }
        return input
    }
}
