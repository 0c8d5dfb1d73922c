import Foundation
import GantryCore
import HTTPTypes
import Hummingbird
import NIOCore

/// The REST side of fal's storage API: storage tokens, and the GCS-style signed upload (`initiate`, then a PUT).
extension FalStorage {
    /// `POST /storage/auth/token?storage_type=fal-cdn-v3` → `{token, token_type, base_url, expires_at}`.
    ///
    /// `fal_client` caches the token until `expires_at` (read with `datetime.fromisoformat` and compared with an
    /// aware `now`), so the timestamp always carries its `+00:00` offset.
    func token(_ request: Request, context: GantryRequestContext) throws -> Response {
        try Self.checkStorageType(request, allowed: ["fal-cdn-v3"])
        let minted = auth.mintStorageToken(tenant: context.tenant)
        return .json(.object([
            "token": .string(minted.token), "token_type": .string("Bearer"), "base_url": .string(publicURL.string),
            "expires_at": .string(isoTimestampWithOffset(minted.expires)),
        ]))
    }

    /// `POST /storage/upload/initiate?storage_type=gcs` with `{"file_name"?, "content_type"?}` →
    /// `{upload_url, file_url}`. The upload URL is the file's URL plus a signature valid for one PUT of that file
    /// with that content type by the caller's tenant, until `uploadTokenTTL` passes.
    func initiate(_ request: Request, context: GantryRequestContext) async throws -> Response {
        try Self.checkStorageType(request, allowed: ["gcs", "fal-cdn-v3"])
        let buffer = try await request.bodyUpTo(64 * 1024)
        let body: JSONValue
        do {
            body = buffer.readableBytes == 0 ? .object([:]) : try JSONValue.parse(Data(buffer: buffer))
        } catch {
            throw APIError.field(["body"], "Body is not valid JSON", type: "json_invalid", status: .badRequest)
        }
        guard case .object = body else {
            throw APIError.field(["body"], "Input should be a valid dictionary (a JSON object)", type: "dict_type")
        }
        let fileName = try Self.optionalString(body, "file_name")
        let contentType = Self.contentType(try Self.optionalString(body, "content_type"))
        let key = naming.makeKey(tenant: context.tenant, fileExtension: FileNaming.fileExtension(fileName: fileName, contentType: contentType), now: now())
        let signature = auth.mintUploadToken(tenant: context.tenant, key: key, contentType: contentType)
        return .json(.object([
            "upload_url": .string("\(fileURL(key))?signature=\(signature)"), "file_url": .string(fileURL(key)),
        ]))
    }

    /// `PUT /files/{day}/{name}?signature=…`: the signed upload. Needs no `Authorization` (one that comes along,
    /// as `fal_client`'s `Key …` does, is ignored): the signature names the tenant, the file and the content type.
    func signedPut(_ request: Request, context: GantryRequestContext) async throws -> Response {
        let key = try pathKey(context)
        let claims = try auth.uploadClaims(signature: request.uri.queryParameters.get("signature").map { String($0) }, key: key)
        let contentType = claims.contentType ?? "application/octet-stream"
        if let sent = request.headers[.contentType], Self.contentType(sent).lowercased() != contentType.lowercased() {
            throw APIError(.forbidden, "content_type_mismatch", "Content-Type must be \(contentType), as signed")
        }
        try await receive(request, key: key, contentType: contentType)
        context.logger.info("signed upload stored", metadata: ["key": "\(key)", "tenant": "\(claims.tenant)"])
        return .json(.object(["file_url": .string(fileURL(key))]))
    }

    /// Refuses a `storage_type` this host does not offer (absent is fine).
    static func checkStorageType(_ request: Request, allowed: [String]) throws {
        guard let type = request.uri.queryParameters.get("storage_type"), !allowed.contains(String(type)) else { return }
        throw APIError.field(["query", "storage_type"], "storage_type must be one of: \(allowed.joined(separator: ", "))",
                             type: "value_error", status: .badRequest)
    }

    /// A string field of the body, or nil when absent or null; 422 naming it when it is something else.
    static func optionalString(_ body: JSONValue, _ field: String) throws -> String? {
        guard let value = body[field], value != .null else { return nil }
        guard let text = value.stringValue else {
            throw APIError.field(["body", field], "Input should be a valid string", type: "string_type")
        }
        return text
    }
}
