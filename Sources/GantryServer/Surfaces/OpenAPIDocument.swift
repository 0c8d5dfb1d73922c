import Foundation
import GantryCore

/// Builds `GET /openapi.json` from the registry: for every function a run path and a queue path whose request body
/// is the function's input schema and whose 200 response is its output schema.
enum OpenAPIDocument {
    static func build(functions: [RegisteredFunction], configuration: ServerConfiguration) -> Data {
        var paths: [String: JSONValue] = [:]
        var components: [String: JSONValue] = [:]
        for function in functions {
            let name = componentName(function.id)
            let input = hoist(function.inputSchema, prefix: name + "Input", into: &components)
            let output = hoist(function.outputSchema, prefix: name + "Output", into: &components)
            components[name + "Input"] = input
            components[name + "Output"] = output
            let title = function.manifest.title ?? function.id
            let body: JSONValue = .object(["required": .bool(true), "content": .object(["application/json": .object(["schema": ref(name + "Input")])])])
            let errors = Self.errorResponses(run: false), runErrors = Self.errorResponses(run: true)
            paths["\(configuration.runPrefix)/\(function.id)"] = .object(["post": .object([
                "summary": .string("\(title) (run)"), "operationId": .string("run_\(name)"), "requestBody": body,
                "responses": .object(["200": .object(["description": .string("The output"), "content": .object(["application/json": .object(["schema": ref(name + "Output")])])])].merging(runErrors) { a, _ in a }),
            ])])
            paths["\(configuration.queuePrefix)/\(function.id)"] = .object(["post": .object([
                "summary": .string("\(title) (queue submit)"), "operationId": .string("submit_\(name)"), "requestBody": body,
                "responses": .object(["200": .object(["description": .string("request_id, response_url, status_url, cancel_url, queue_position")])].merging(errors) { a, _ in a }),
            ])])
        }
        components["ErrorEnvelope"] = errorEnvelopeSchema
        let document: JSONValue = .object([
            "openapi": .string("3.1.0"),
            "info": .object(["title": .string("Gantry"), "version": .string("0.1.0"),
                             "description": .string("Self-hosted functions speaking fal's queue and run protocol.")]),
            "paths": .object(paths),
            "components": .object(["schemas": .object(components),
                                   "securitySchemes": .object(["key": .object(["type": .string("apiKey"), "in": .string("header"), "name": .string("Authorization")])])]),
        ])
        return document.encoded()
    }

    /// Every error status a function's path can answer, each with the envelope as its body. A synchronous run can
    /// also answer what the run itself ended with (a function failure, a timeout, a shutdown).
    static func errorResponses(run: Bool) -> [String: JSONValue] {
        var statuses: [(String, String)] = [
            ("400", "Malformed request: the body is not JSON, or the HTTP request itself is broken"),
            ("401", "Missing or invalid API key"),
            ("413", "The request body is larger than the host's limit"),
            ("415", "The body is not application/json"),
            ("422", "Invalid input: `detail` lists each problem with `loc`, `msg` and `type`"),
            ("500", run ? "The function failed (`error_type` says how), or an internal error" : "Internal error"),
            ("501", "The function needs an engine this host does not have"),
            ("503", run ? "The host is shutting down, or the runner serving the function went away" : "The host is shutting down"),
        ]
        if run { statuses.append(("504", "The run passed its timeout")) }
        let envelope: JSONValue = .object(["application/json": .object(["schema": ref("ErrorEnvelope")])])
        return Dictionary(uniqueKeysWithValues: statuses.map { ($0.0, .object(["description": .string($0.1), "content": envelope])) })
    }

    /// `{"detail": "…" | [{loc, msg, type}], "error_type": "…"}`.
    static let errorEnvelopeSchema: JSONValue = .object([
        "type": .string("object"), "required": .array([.string("detail"), .string("error_type")]),
        "properties": .object([
            "error_type": .object(["type": .string("string")]),
            "detail": .object(["oneOf": .array([
                .object(["type": .string("string")]),
                .object(["type": .string("array"), "items": .object(["type": .string("object"), "properties": .object([
                    "loc": .object(["type": .string("array")]), "msg": .object(["type": .string("string")]),
                    "type": .object(["type": .string("string")])])])]),
            ])]),
        ]),
    ])

    static func componentName(_ id: String) -> String {
        id.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    private static func ref(_ name: String) -> JSONValue { .object(["$ref": .string("#/components/schemas/\(name)")]) }

    /// Moves a schema's `$defs` into the shared components and rewrites its `$ref`s to point there.
    private static func hoist(_ schema: JSONValue, prefix: String, into components: inout [String: JSONValue]) -> JSONValue {
        var root = schema.objectValue ?? [:]
        let definitions = (root.removeValue(forKey: "$defs") ?? root.removeValue(forKey: "definitions"))?.objectValue ?? [:]
        for (key, value) in definitions { components[prefix + key] = rewrite(value, prefix: prefix) }
        root.removeValue(forKey: "$schema")
        return rewrite(.object(root), prefix: prefix)
    }

    private static func rewrite(_ value: JSONValue, prefix: String) -> JSONValue {
        switch value {
        case .object(var object):
            if let target = object["$ref"]?.stringValue, let name = target.split(separator: "/").last, target.hasPrefix("#/$defs/") || target.hasPrefix("#/definitions/") {
                object["$ref"] = .string("#/components/schemas/\(prefix)\(name)")
            }
            return .object(object.mapValues { rewrite($0, prefix: prefix) })
        case .array(let items): return .array(items.map { rewrite($0, prefix: prefix) })
        default: return value
        }
    }
}
