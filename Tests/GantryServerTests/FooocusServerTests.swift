import BuiltinFunctions
import Foundation
import Fooocus
import GantryCore
@testable import GantryServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Imaging
import Logging
import Testing

/// A host with the repository's functions, the built-in and fooocus handlers, and egress to 127.0.0.1 allowed (so
/// inputs can be URLs the host itself serves from its file store).
private func withFooocusHost<T>(_ body: (GantryServer.Host) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gantry-fooocus-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    var configuration = ServerConfiguration()
    configuration.port = 0
    configuration.store = .sqlite
    configuration.dataDirectory = directory.appendingPathComponent("data").path
    configuration.functionsDirectory = repositoryRoot.appendingPathComponent("functions").path
    configuration.schemasDirectory = repositoryRoot.appendingPathComponent("schemas").path
    configuration.allowEgress = ["127.0.0.1/32"]
    configuration.dispatcher = DispatcherConfiguration(
        leaseDuration: 30, heartbeatInterval: 0.1, pollInterval: 0.05, shutdownGrace: 0, sweepInterval: 0.05)
    var logger = Logger(label: "gantry-fooocus-server-tests")
    logger.logLevel = .critical
    let handlers = BuiltinFunctions.handlers.merging(FooocusFunctions.handlers()) { builtin, _ in builtin }
    let host = try await buildApplication(configuration: configuration, handlers: handlers, logger: logger)
    return try await body(host)
}

/// The overture fixture pair at `side` px, as PNG bytes.
private func fixturePNGs(side: Int = 128) throws -> (image: Data, mask: Data) {
    let directory = repositoryRoot.appendingPathComponent("Tests/reference/fixtures")
    func load(_ name: String) throws -> Data {
        let image = try ImageCodec.decode(Data(contentsOf: directory.appendingPathComponent(name)))
        return try ImageCodec.encode(Resample.lanczos(image, width: side, height: side), as: .png)
    }
    return (try load("overture-creations-5sI6fQgYIuo.png"), try load("overture-creations-5sI6fQgYIuo_mask.png"))
}

private func dataURI(_ png: Data) -> String { "data:image/png;base64,\(png.base64EncodedString())" }

/// A JSON object literal from string-keyed values.
private func json(_ object: [String: Any]) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
}

/// "Improve Detail" skips the fill (strength 0.5), which keeps debug-build runs short; the pipeline is the same.
private let improveDetail = "Improve Detail (face, hand, eyes, etc.)"

@Suite("fooocus functions on the live server")
struct FooocusServerTests {
    /// Queue: submit with data URIs, poll to COMPLETED, fetch the result and the stored file it names.
    @Test func inpaintThroughTheQueue() async throws {
        let pngs = try fixturePNGs()
        try await withFooocusHost { host in
            try await host.application.test(.router) { client in
                let body = try json(["inpaint_image_url": dataURI(pngs.image), "mask_image_url": dataURI(pngs.mask),
                                     "inpaint_mode": improveDetail, "output_format": "png", "seed": 9, "prompt": "a cat"])
                let submitted = try await client.submit("fal-ai/fooocus/inpaint", body)
                // A whole debug-build inpaint: ~9 s alone, several times that beside the other suites on 2 cores.
                let done = try await client.waitForStatus(submitted["status_url"], "COMPLETED", query: "?logs=1", timeout: .seconds(180))
                #expect(done.json["error"] == nil)
                let messages = done.json["logs"]?.arrayValue?.compactMap { $0["message"]?.stringValue } ?? []
                #expect(messages.contains { $0.contains("does not follow prompts") && $0.contains("prompt") })
                let result = try await client.send(.get, pathOf(submitted["response_url"]!.stringValue!)!)
                #expect(result.status == .ok)
                #expect(result.json["seed"] == .number(9))
                #expect(result.json["has_nsfw_concepts"] == .array([.bool(false)]))
                #expect(result.json["timings"]?["engine"]?.doubleValue != nil)
                let image = try #require(result.json["images"]?.arrayValue?.first)
                #expect(image["content_type"] == .string("image/png") && image["width"] == .number(128) && image["height"] == .number(128))
                let url = try #require(image["url"]?.stringValue)
                let file = try await client.send(.get, try #require(pathOf(url)))
                #expect(file.status == .ok && file.header("content-type") == "image/png")
                #expect(file.bytes.count == Int(image["file_size"]?.doubleValue ?? -1))
                let decoded = try ImageCodec.decode(file.bytes)
                #expect(decoded.width == 128 && decoded.height == 128)
            }
        }
    }

    /// Run surface with URL inputs served by the host itself over loopback, and sync_mode: the answer carries the
    /// image inline as a data URI.
    @Test func inpaintFromLoopbackURLsSyncMode() async throws {
        let pngs = try fixturePNGs()
        try await withFooocusHost { host in
            try await host.application.test(.live) { client in
                // Store files are inputs only for the tenant their name was made for (here `default`, no keys).
                let naming = FileNaming(signer: try storageSigner(host))
                let imageKey = naming.makeKey(tenant: "default", fileExtension: "png"), maskKey = naming.makeKey(tenant: "default", fileExtension: "png")
                try await host.files.put(pngs.image, key: imageKey, contentType: "image/png")
                try await host.files.put(pngs.mask, key: maskKey, contentType: "image/png")
                let base = host.publicURL.string
                let body = try json(["inpaint_image_url": "\(base)/files/\(imageKey)",
                                     "mask_image_url": "\(base)/files/\(maskKey)", "inpaint_mode": improveDetail,
                                     "sync_mode": true, "outpaint_selections": ["Right"]])
                let reply = try await client.send(.post, "/fal-ai/fooocus/inpaint", json: body)
                try #require(reply.status == .ok, "\(reply.text.prefix(500))")
                let image = try #require(reply.json["images"]?.arrayValue?.first)
                let url = try #require(image["url"]?.stringValue)
                #expect(url.hasPrefix("data:image/jpeg;base64,"))
                #expect(image["width"] == .number(128 + 38) && image["height"] == .number(128))
                let bytes = try #require(Data(base64Encoded: String(url.split(separator: ",")[1])))
                #expect(bytes.count == Int(image["file_size"]?.doubleValue ?? -1))
                #expect(try ImageCodec.readHeader(bytes).format == .jpeg)
            }
        }
    }

    /// upscale-or-vary on the run surface: Upscale (Fast 2x) of a 64 px image is 1024×1024 (shape ceil 1024).
    @Test func upscaleOnTheRunSurface() async throws {
        let pngs = try fixturePNGs(side: 64)
        try await withFooocusHost { host in
            try await host.application.test(.router) { client in
                let body = try json(["uov_image_url": dataURI(pngs.image), "uov_method": "Upscale (Fast 2x)", "sync_mode": true, "num_images": 2])
                let reply = try await client.send(.post, "/fal-ai/fooocus/upscale-or-vary", json: body)
                try #require(reply.status == .ok, "\(reply.text.prefix(500))")
                let images = try #require(reply.json["images"]?.arrayValue)
                #expect(images.count == 2)
                #expect(images.allSatisfy { $0["width"] == .number(1024) && $0["height"] == .number(1024) })
                #expect(reply.json["has_nsfw_concepts"] == .array([.bool(false), .bool(false)]))
            }
        }
    }

    /// Submit-time refusals are 422s on both surfaces, before anything is queued.
    @Test(arguments: ["/queue/", "/"])
    func refusals(prefix: String) async throws {
        let image = dataURI(try fixturePNGs(side: 8).image)
        let cases: [(String, [String: Any], String, [String])] = [
            ("fal-ai/fooocus", ["prompt": "a cat"], "capability_unavailable", ["prompt"]),
            ("fal-ai/fooocus/upscale-or-vary", ["uov_image_url": image], "capability_unavailable", ["uov_method"]),
            ("fal-ai/fooocus/image-prompt", ["image_prompt_1": ["image_url": image, "type": "PyraCanny"]], "capability_unavailable", ["image_prompt_1"]),
            ("fal-ai/fooocus/inpaint", ["inpaint_image_url": image, "mask_image_url": image, "image_prompt_2": ["image_url": image]],
             "capability_unavailable", ["image_prompt_2"]),
            ("fal-ai/fooocus/inpaint", ["inpaint_image_url": image], "value_error", ["mask_image_url"]),
            ("fal-ai/fooocus/inpaint", ["inpaint_image_url": image, "outpaint_selections": ["Left"], "aspect_ratio": "wide"], "value_error", ["aspect_ratio"]),
            ("fal-ai/fooocus/upscale-or-vary", ["uov_image_url": image, "uov_method": "Disabled"], "value_error", ["uov_method"]),
            ("fal-ai/fooocus/inpaint", ["inpaint_image_url": image, "mask_image_url": image, "styles": ["No Such Style"]], "validation_error", ["styles", "0"]),
        ]
        let requests = try cases.map { app, fields, errorType, loc in (app, try json(fields), errorType, loc) }
        try await withFooocusHost { host in
            try await host.application.test(.router) { client in
                for (app, body, errorType, loc) in requests {
                    let reply = try await client.send(.post, prefix + app, json: body)
                    #expect(reply.status == .unprocessableContent, "\(app) \(body.prefix(200)): \(reply.text.prefix(300))")
                    #expect(reply.json["error_type"] == .string(errorType), "\(app): \(reply.text.prefix(300))")
                    let first = reply.json["detail"]?.arrayValue?.first?["loc"]?.arrayValue ?? []
                    #expect(first.dropFirst().map { $0.stringValue ?? $0.doubleValue.map { String(Int($0)) } ?? "?" } == loc, "\(app)")
                }
                #expect(try await host.store.requestCounts().values.allSatisfy { $0.values.allSatisfy { $0 == 0 } })
            }
        }
    }

    /// Errors that need the images come back through the queue as a completed request with a 422 result.
    @Test func runTimeInputErrors() async throws {
        let pngs = try fixturePNGs()
        let small = try fixturePNGs(side: 64)
        try await withFooocusHost { host in
            try await host.application.test(.router) { client in
                let body = try json(["inpaint_image_url": dataURI(pngs.image), "mask_image_url": dataURI(small.mask)])
                let submitted = try await client.submit("fal-ai/fooocus/inpaint", body)
                let done = try await client.waitForStatus(submitted["status_url"], "COMPLETED")
                #expect(done.json["error_type"] == .string("size_mismatch"))
                let result = try await client.send(.get, pathOf(submitted["response_url"]!.stringValue!)!)
                #expect(result.status == .unprocessableContent)
                #expect(result.json["detail"]?.arrayValue?.first?["loc"] == .array([.string("body"), .string("mask_image_url")]))
            }
        }
    }
}
