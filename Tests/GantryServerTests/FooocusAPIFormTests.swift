import Foundation
import GantryCore
@testable import GantryServer
import Imaging
import Testing

/// A multipart/form-data body: text fields and files, in order.
struct FormBody {
    enum Field {
        case text(String, String)
        case file(String, fileName: String, contentType: String, Data)
    }

    var fields: [Field]
    var boundary = "gantry-test-\(UUID().uuidString)"

    var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    var data: Data {
        var body = Data()
        for field in fields {
            body.append(Data("--\(boundary)\r\n".utf8))
            switch field {
            case .text(let name, let value):
                body.append(Data("Content-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8))
            case .file(let name, let fileName, let type, let bytes):
                body.append(Data("Content-Disposition: form-data; name=\"\(name)\"; filename=\"\(fileName)\"\r\nContent-Type: \(type)\r\n\r\n".utf8))
                body.append(bytes)
                body.append(Data("\r\n".utf8))
            }
        }
        body.append(Data("--\(boundary)--\r\n".utf8))
        return body
    }
}

/// A small RGB PNG (a gradient, so it is not uniform).
func testPNG(width: Int = 32, height: Int = 32) throws -> Data {
    var image = Image(width: width, height: height, channels: 3, fill: 0)
    for y in 0..<height {
        for x in 0..<width {
            let at = (y * width + x) * 3
            image.pixels[at] = UInt8((x * 7) % 256)
            image.pixels[at + 1] = UInt8((y * 5) % 256)
            image.pixels[at + 2] = 90
        }
    }
    return try ImageCodec.encode(image, as: .png)
}

@Suite("Fooocus-API multipart forms and field coercions")
struct FooocusAPIFormTests {
    static func parse(_ text: String, boundary: String = "XyZ") throws -> MultipartForm {
        try MultipartForm.parse(Data(text.utf8), boundary: boundary)
    }

    @Test func fieldsFilesAndPreamble() throws {
        let body = "preamble to ignore\r\n--XyZ\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na cat\r\nsecond line\r\n"
            + "--XyZ \r\ncontent-disposition: form-data; name=\"input_image\"; filename=\"a \\\"b\\\"; c.png\"\r\nContent-Type: image/png\r\n\r\n"
            + "\u{1}\u{2}\r\n--XyZ--\r\nepilogue"
        let form = try Self.parse(body)
        #expect(form.parts.count == 2)
        #expect(form.parts[0] == .init(name: "prompt", fileName: nil, contentType: nil, data: Data("a cat\r\nsecond line".utf8)))
        #expect(form.parts[1].name == "input_image" && form.parts[1].fileName == "a \"b\"; c.png")
        #expect(form.parts[1].contentType == "image/png" && form.parts[1].data == Data([1, 2]))
    }

    @Test func emptyFormAndEmptyValue() throws {
        #expect(try Self.parse("--XyZ--\r\n").parts.isEmpty)
        let form = try Self.parse("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\r\n--XyZ--")
        #expect(form.parts == [.init(name: "a", fileName: nil, contentType: nil, data: Data())])
    }

    @Test(arguments: [
        ("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue", "closing multipart delimiter"),
        ("no delimiter at all", "no multipart delimiter"),
        ("--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--", "no Content-Disposition"),
        ("--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--XyZ--", "not form-data"),
        ("--XyZ\r\nContent-Disposition: form-data; filename=\"a\"\r\n\r\nx\r\n--XyZ--", "has no name"),
        ("--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--XyZ--", "unterminated"),
        ("--XyZjunk\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--XyZ--", "not followed by CRLF"),
    ])
    func malformedBodies(body: String, message: String) {
        #expect {
            _ = try Self.parse(body)
        } throws: { error in
            (error as? MultipartForm.FormatError)?.message.contains(message) == true
        }
    }

    @Test func limits() throws {
        let many = (0..<5).map { "--XyZ\r\nContent-Disposition: form-data; name=\"f\($0)\"\r\n\r\nx\r\n" }.joined() + "--XyZ--"
        #expect(throws: MultipartForm.FormatError.self) { try MultipartForm.parse(Data(many.utf8), boundary: "XyZ", limits: .init(maxParts: 4)) }
        #expect(try MultipartForm.parse(Data(many.utf8), boundary: "XyZ", limits: .init(maxParts: 5)).parts.count == 5)
        let longHeader = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Pad: \(String(repeating: "p", count: 200))\r\n\r\nx\r\n--XyZ--"
        #expect(throws: MultipartForm.FormatError.self) {
            try MultipartForm.parse(Data(longHeader.utf8), boundary: "XyZ", limits: .init(maxHeaderBytes: 100))
        }
    }

    @Test func boundaryFromContentType() throws {
        #expect(try MultipartForm.boundary(contentType: "multipart/form-data; boundary=abc") == "abc")
        #expect(try MultipartForm.boundary(contentType: "Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b\"") == "a b")
        #expect(try MultipartForm.boundary(contentType: "application/json") == nil)
        #expect(throws: MultipartForm.FormatError.self) { try MultipartForm.boundary(contentType: "multipart/form-data") }
        #expect(throws: MultipartForm.FormatError.self) {
            try MultipartForm.boundary(contentType: "multipart/form-data; boundary=\(String(repeating: "b", count: 71))")
        }
    }

    /// The body a FormBody writes is what the parser reads back.
    @Test func roundTrip() throws {
        let png = try testPNG()
        let body = FormBody(fields: [.text("style_selections", "Fooocus V2, Fooocus Sharp"), .text("style_selections", "SAI Anime"),
                                     .file("input_image", fileName: "i.png", contentType: "image/png", png)])
        let form = try MultipartForm.parse(body.data, boundary: try #require(try MultipartForm.boundary(contentType: body.contentType)))
        #expect(form.parts.map(\.name) == ["style_selections", "style_selections", "input_image"])
        #expect(form.parts[2].data == png)
    }

    /// Form coercions: comma-separated and repeated lists (trimmed), pydantic's booleans, numbers as text, JSON
    /// strings for `loras`/`advanced_params`, empty fields as absent, files as data URIs.
    @Test func formCoercions() throws {
        let png = try testPNG()
        let form = MultipartForm(parts: [
            .init(name: "outpaint_selections", data: Data("Left, Right ,".utf8)), .init(name: "outpaint_selections", data: Data("Top".utf8)),
            .init(name: "async_process", data: Data("True".utf8)), .init(name: "image_number", data: Data("3".utf8)),
            .init(name: "sharpness", data: Data("2.5".utf8)), .init(name: "upscale_value", data: Data()),
            .init(name: "loras", data: Data(#"[{"enabled":true,"model_name":"a.safetensors","weight":0.3}]"#.utf8)),
            .init(name: "input_image", fileName: "x.png", contentType: "image/png", data: png),
            .init(name: "not_image", fileName: "x.gif", contentType: "image/gif", data: Data("GIF89a....".utf8)),
        ])
        let fields = FooocusAPIFields(storage: .form(form))
        #expect(try fields.list("outpaint_selections") == ["Left", "Right", "Top"])
        #expect(try fields.bool("async_process") == true)
        #expect(try fields.int("image_number", in: 1...32) == 3)
        #expect(try fields.double("sharpness") == 2.5)
        #expect(try fields.double("upscale_value") == nil)
        #expect(try fields.json("loras")?.arrayValue?.first?["model_name"] == .string("a.safetensors"))
        #expect(try fields.image("input_image") == "data:image/png;base64,\(png.base64EncodedString())")
        #expect(throws: APIError.self) { try fields.image("not_image") }
        #expect(throws: APIError.self) { try fields.int("sharpness") }
    }

    /// JSON coercions: images as bare base64, data URIs, URLs or "None"; bad values are 422s naming the field.
    @Test func jsonImagesAndErrors() throws {
        let png = try testPNG()
        let uri = "data:image/png;base64,\(png.base64EncodedString())"
        let fields = FooocusAPIFields(storage: .json([
            "a": .string(png.base64EncodedString()), "b": .string("data:image/jpeg;base64,\(png.base64EncodedString())"),
            "c": .string("https://example.com/x.png"), "d": .string("None"), "e": .null, "f": .string("not base64 !!"),
            "g": .number(3), "h": .string("data:image/png,rawtext"), "i": .string("Left,Right"),
        ]))
        #expect(try fields.image("a") == uri)
        #expect(try fields.image("b") == uri)  // the media type follows the bytes' signature
        #expect(try fields.image("c") == "https://example.com/x.png")
        #expect(try fields.image("d") == nil && fields.image("e") == nil && fields.image("missing") == nil)
        #expect(try fields.list("i") == ["Left", "Right"])
        for name in ["f", "g", "h"] {
            #expect {
                _ = try fields.image(name)
            } throws: { error in
                (error as? APIError)?.detail.arrayValue?.first?["loc"] == .array([.string("body"), .string(name)])
            }
        }
    }
}
