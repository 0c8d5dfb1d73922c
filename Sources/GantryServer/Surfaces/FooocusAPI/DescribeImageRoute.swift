import Foundation
import GantryCore
import Hummingbird

/// `POST /v1/tools/describe-image`: Fooocus-API's multipart `image` file with `?image_type=Photo|Anime`
/// (docs/fooocus.md §1.2), or FooocusAPI 2.5's JSON `{"image", "image_type"}` (§2.2). The request is checked first (a
/// missing or undecodable image, an unknown type: 422 naming the field), then run as
/// `gantry/fooocus/describe-image`, which needs an engine with a captioning model and otherwise refuses with
/// `capability_unavailable`. The answer is the reference's `{"describe": "…"}`.
extension FooocusAPISurface {
    static let describeImageFunction = "gantry/fooocus/describe-image"
    static let describeStyles = ["Photo", "Anime"]

    func describeImage(_ request: Request, context: GantryRequestContext) async throws -> Response {
        let multipart = (request.headers[.contentType] ?? "").lowercased().hasPrefix("multipart/")
        let fields = try await fields(request, spelling: multipart ? .v1Form : .v2JSON)
        let query = request.uri.queryParameters.get("image_type")
        let call = try Self.describeImageCall(fields, queryImageType: query, multipart: multipart)
        let output = try await runTool(call, context: context)
        guard let text = output["describe"]?.stringValue else {
            throw APIError(.internalServerError, "invalid_output", "The describe function returned no description")
        }
        return .json(.object(["describe": .string(text)]))
    }

    /// The function call: the image (Fooocus-API: the `image` file; FooocusAPI 2.5: `image` as URL, data URI or
    /// base64) and `image_type`, from the query for a form (Fooocus-API) and from the body for JSON (2.5, where the
    /// query is a fallback).
    static func describeImageCall(_ fields: FooocusAPIFields, queryImageType: String?, multipart: Bool) throws -> FalCall {
        var call = FalCall(functionID: describeImageFunction)
        guard let image = try fields.image("image") else {
            throw fields.error("image", "Field required: the image to describe", type: "missing")
        }
        call.set("image_url", .string(image), from: ["image"])
        let bodyType = multipart ? nil : try fields.oneOf("image_type", describeStyles)
        if let type = bodyType {
            call.set("image_type", .string(type), from: ["image_type"])
        } else if let type = queryImageType {
            guard describeStyles.contains(type) else {
                throw APIError.field(["query", "image_type"], "Input should be 'Photo' or 'Anime', not '\(type.prefix(100))'", type: "enum")
            }
            call.set("image_type", .string(type), from: ["image_type"])
        }
        return call
    }
}
