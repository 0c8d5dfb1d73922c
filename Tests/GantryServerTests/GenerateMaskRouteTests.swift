import Foundation
import GantryCore
@testable import GantryServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Imaging
import Testing

/// A red disc on a noisy blue background as PNG bytes, and which pixels are the disc.
func discPNG(width: Int = 64, height: Int = 48, radius: Double = 15) throws -> (png: Data, truth: [Bool]) {
    var state: UInt64 = 12345
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    var truth = [Bool](repeating: false, count: width * height)
    for y in 0..<height {
        for x in 0..<width {
            let inside = hypot(Double(x) + 0.5 - Double(width) / 2, Double(y) + 0.5 - Double(height) / 2) < radius
            truth[y * width + x] = inside
            let base = inside ? [200, 40, 40] : [40, 60, 190]
            for c in 0..<3 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                pixels[(y * width + x) * 3 + c] = UInt8(clamping: base[c] + Int(state >> 59) - 16)
            }
        }
    }
    return (try ImageCodec.encode(Image(width: width, height: height, channels: 3, pixels: pixels), as: .png), truth)
}

/// `/v1/tools/generate_mask`: isnet-general-use answered by GrabCut, the other models refused, bad input as 422s.
@Suite("Fooocus-API generate_mask (router)")
struct GenerateMaskRouteTests {
    /// The issues of a 422 reply: (loc, type, msg).
    static func issue(_ reply: Reply) -> (loc: [String], type: String, msg: String)? {
        guard let first = reply.json["detail"]?.arrayValue?.first else { return nil }
        return (first["loc"]?.arrayValue?.compactMap(\.stringValue) ?? [], first["type"]?.stringValue ?? "", first["msg"]?.stringValue ?? "")
    }

    @Test func isnetGeneralUseIsGrabCutFromACentredBox() async throws {
        let (png, truth) = try discPNG()
        try await withHost { host in
            try await host.application.test(.router) { client in
                for body in [["image": png.base64EncodedString()],
                             ["image": "data:image/png;base64,\(png.base64EncodedString())", "mask_model": "isnet-general-use",
                              "cloth_category": "socks", "sam_model": "anything", "dino_erode_or_dilate": 12.5]] as [[String: Any]] {
                    let reply = try await client.send(.post, "/v1/tools/generate_mask", json: try jsonText(body))
                    #expect(reply.status == .ok, "\(reply.text)")
                    #expect(reply.header("x-gantry-mask-method") == "grabcut-centred-box")
                    // A JSON string: base64 of a PNG, without a data: prefix.
                    let text = try #require(reply.json.stringValue)
                    #expect(!text.hasPrefix("data:"))
                    let png = try #require(Data(base64Encoded: text))
                    #expect(png[png.startIndex + 25] == 0, "PNG colour type 0: gray, like rembg's mode L masks")
                    let mask = try ImageCodec.decode(png).channel(0)
                    #expect(mask.width == 64 && mask.height == 48)
                    #expect(Set(mask.pixels).isSubset(of: [0, 255]))
                    let found = mask.pixels.map { $0 == 255 }
                    let both = zip(found, truth).filter { $0 && $1 }.count, either = zip(found, truth).filter { $0 || $1 }.count
                    #expect(Double(both) / Double(either) >= 0.9, "IoU \(Double(both) / Double(either))")
                }
            }
        }
    }

    @Test func neuralModelsAreRefusedNamingTheModel() async throws {
        let (png, _) = try discPNG()
        try await withHost { host in
            try await host.application.test(.router) { client in
                for model in ["u2net", "u2netp", "u2net_human_seg", "u2net_cloth_seg", "silueta", "isnet-anime", "sam"] {
                    let reply = try await client.send(.post, "/v1/tools/generate_mask",
                                                      json: try jsonText(["image": png.base64EncodedString(), "mask_model": model]))
                    #expect(reply.status == .unprocessableContent, "\(model): \(reply.text)")
                    #expect(reply.json["error_type"] == .string("capability_unavailable"))
                    let issue = try #require(Self.issue(reply))
                    #expect(issue.loc == ["body", "mask_model"] && issue.type == "capability_unavailable")
                    #expect(issue.msg.contains("'\(model)'") && issue.msg.contains("reference engine"), "\(issue.msg)")
                    #expect(issue.msg.contains(model == "sam" ? "prompted-mask" : "foreground-mask"))
                }
            }
        }
    }

    @Test func badInputIsA422NamingTheField() async throws {
        let (png, _) = try discPNG()
        let image = png.base64EncodedString()
        var corrupt = Data(png.prefix(40))
        corrupt.append(Data(repeating: 7, count: 200))
        let table: [([String: Any], [String])] = [
            ([:], ["body", "image"]),
            (["image": "None"], ["body", "image"]),
            (["image": "%%% not base64 %%%"], ["body", "image"]),
            (["image": Data("just some text".utf8).base64EncodedString()], ["body", "image"]),
            (["image": corrupt.base64EncodedString()], ["body", "image"]),
            (["image": 42], ["body", "image"]),
            (["image": image, "mask_model": "rembg"], ["body", "mask_model"]),
            (["image": image, "mask_model": NSNull()], ["body", "mask_model"]),
            (["image": image, "box_threshold": 1.5], ["body", "box_threshold"]),
            (["image": image, "text_threshold": -0.1], ["body", "text_threshold"]),
            (["image": image, "sam_max_detections": 11], ["body", "sam_max_detections"]),
            (["image": image, "sam_max_detections": 1.5], ["body", "sam_max_detections"]),
            (["image": image, "dino_erode_or_dilate": -65], ["body", "dino_erode_or_dilate"]),
            (["image": image, "dino_debug": "maybe"], ["body", "dino_debug"]),
            (["image": image, "dino_prompt_text": 3], ["body", "dino_prompt_text"]),
            (["image": image, "mask_model": "u2net_cloth_seg", "cloth_category": "socks"], ["body", "cloth_category"]),
            (["image": image, "mask_model": "sam", "sam_model": "vit_x"], ["body", "sam_model"]),
        ]
        let cases = try table.map { (try jsonText($0.0), $0.1) }
        try await withHost { host in
            try await host.application.test(.router) { client in
                for (body, loc) in cases {
                    let reply = try await client.send(.post, "/v1/tools/generate_mask", json: body)
                    #expect(reply.status == .unprocessableContent, "\(loc): \(reply.text)")
                    #expect(Self.issue(reply)?.loc == loc, "\(reply.text)")
                }
                let notJSON = try await client.send(.post, "/v1/tools/generate_mask", json: "{nope")
                #expect(notJSON.status == .badRequest)
                let array = try await client.send(.post, "/v1/tools/generate_mask", json: "[1]")
                #expect(array.status == .unprocessableContent)
            }
        }
    }

    @Test func describeImageValidatesThenRefuses() async throws {
        let (png, _) = try discPNG()
        try await withHost { host in
            try await host.application.test(.router) { client in
                let file = FormBody.Field.file("image", fileName: "photo.png", contentType: "image/png", png)
                // Fooocus-API's shape: a multipart file and ?image_type.
                for (query, model) in [("", "BLIP"), ("?image_type=Photo", "BLIP"), ("?image_type=Anime", "WD14")] {
                    let reply = try await client.post("/v1/tools/describe-image\(query)", form: FormBody(fields: [file]))
                    #expect(reply.status == .unprocessableContent, "\(reply.text)")
                    #expect(reply.json["error_type"] == .string("capability_unavailable"))
                    let issue = try #require(Self.issue(reply))
                    #expect(issue.loc == ["body", "image"] && issue.type == "capability_unavailable")
                    #expect(issue.msg.contains("reference engine") && issue.msg.contains("'image-captioning'") && issue.msg.contains(model),
                            "\(issue.msg)")
                }
                // FooocusAPI 2.5's shape: JSON with image and image_type.
                let json = try await client.send(.post, "/v1/tools/describe-image",
                                                 json: try jsonText(["image": png.base64EncodedString(), "image_type": "Anime"]))
                #expect(json.status == .unprocessableContent && Self.issue(json)?.type == "capability_unavailable")
                #expect(Self.issue(json)?.msg.contains("WD14") == true)
                // Validated before the refusal.
                let unknownType = try await client.post("/v1/tools/describe-image?image_type=Cartoon", form: FormBody(fields: [file]))
                #expect(unknownType.status == .unprocessableContent && Self.issue(unknownType)?.loc == ["query", "image_type"])
                let noImage = try await client.post("/v1/tools/describe-image", form: FormBody(fields: [.text("other", "x")]))
                #expect(noImage.status == .unprocessableContent && Self.issue(noImage)?.loc == ["body", "image"])
                #expect(Self.issue(noImage)?.type == "missing")
                let notImage = try await client.post("/v1/tools/describe-image", form: FormBody(fields: [
                    .file("image", fileName: "a.txt", contentType: "text/plain", Data("hello".utf8)),
                ]))
                #expect(notImage.status == .unprocessableContent && Self.issue(notImage)?.loc == ["body", "image"])
                let badJSONType = try await client.send(.post, "/v1/tools/describe-image",
                                                        json: try jsonText(["image": png.base64EncodedString(), "image_type": "x"]))
                #expect(badJSONType.status == .unprocessableContent && Self.issue(badJSONType)?.loc == ["body", "image_type"])
                let empty = try await client.send(.post, "/v1/tools/describe-image")
                #expect(empty.status == .unprocessableContent && Self.issue(empty)?.loc == ["body", "image"])
            }
        }
    }

    /// The functions are fal functions too: the same refusal and mask through the run surface.
    @Test func sameFunctionsOnTheFalSurface() async throws {
        let (png, _) = try discPNG()
        let uri = "data:image/png;base64,\(png.base64EncodedString())"
        try await withHost { host in
            try await host.application.test(.router) { client in
                let mask = try await client.send(.post, "/gantry/fooocus/generate-mask", json: try jsonText(["image_url": uri, "sync_mode": true]))
                #expect(mask.status == .ok, "\(mask.text)")
                #expect(mask.json["method"] == .string("grabcut-centred-box") && mask.json["mask_model"] == .string("isnet-general-use"))
                #expect(mask.json["image"]?["content_type"] == .string("image/png") && mask.json["image"]?["width"] == .number(64))
                let refused = try await client.send(.post, "/gantry/fooocus/describe-image", json: try jsonText(["image_url": uri]))
                #expect(refused.status == .unprocessableContent && refused.json["error_type"] == .string("capability_unavailable"))
                #expect(Self.issue(refused)?.loc == ["body", "image_url"])
            }
        }
    }
}
