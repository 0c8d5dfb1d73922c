import Foundation
import GantryCore
import GantryS3
import HTTPTypes
import Hummingbird
import Signing

/// fal's storage API, served by the host itself so `fal_client.upload*` works unchanged once `REST_URL` and
/// `CDN_URL` point here (both are the host's public URL):
///
/// | route | what |
/// |---|---|
/// | `POST /storage/auth/token` | a storage token of the caller's tenant, `expires_at` with an offset |
/// | `POST /storage/upload/initiate` | a signed `upload_url` (one PUT, no credentials needed) and the `file_url` |
/// | `PUT /files/{day}/{name}?signature=…` | the signed PUT |
/// | `POST /files/upload` | a single-shot upload → `access_url` |
/// | `POST /files/upload/multipart` | starts a multipart upload → `access_url`, `uploadId` |
/// | `PUT {access_url}/multipart/{uploadId}/{partNumber}` | one part; answers its `ETag` |
/// | `POST {access_url}/multipart/{uploadId}/complete` | assembles the listed parts in part-number order |
///
/// The `/storage/*` routes sit behind `AuthMiddleware` (API keys); the `/files/*` ones authenticate themselves
/// (`StorageAuth`). Every upload lands in the file store under a tenant-tagged key (`FileNaming`).
struct FalStorage: Sendable {
    let files: any FileStore
    let naming: FileNaming
    let auth: StorageAuth
    let staging: UploadStaging
    let multipart: any MultipartUploads
    let publicURL: PublicURL
    let maxUploadBytes: Int
    let now: @Sendable () -> Date

    /// - Parameters:
    ///   - signer: keyed by the storage secret (`<data-dir>/storage-secret`), the same one `naming` uses.
    ///   - staging: the data directory's upload staging area.
    init(configuration: ServerConfiguration, files: any FileStore, naming: FileNaming, signer: TokenSigner,
         staging: UploadStaging, publicURL: PublicURL) {
        self.files = files
        self.naming = naming
        self.auth = StorageAuth(signer: signer, apiKeys: configuration.apiKeys, ttl: configuration.uploadTokenTTL, now: configuration.dispatcher.now)
        self.staging = staging
        if let bucket = files as? S3FileStore {
            multipart = BucketMultipartUploads(bucket: bucket, staging: staging, maxPartBytes: configuration.maxUploadBytes,
                                               maxTotalBytes: configuration.maxMultipartUploadBytes)
        } else {
            multipart = DiskMultipartUploads(staging: staging, files: files, maxPartBytes: configuration.maxUploadBytes,
                                             maxTotalBytes: configuration.maxMultipartUploadBytes)
        }
        self.publicURL = publicURL
        self.maxUploadBytes = configuration.maxUploadBytes
        self.now = configuration.dispatcher.now
    }

    func register(on router: RouteTable) {
        router.post("/storage/auth/token") { request, context in try token(request, context: context) }
        router.post("/storage/upload/initiate") { request, context in try await initiate(request, context: context) }
        router.put("/files/:day/:name") { request, context in try await signedPut(request, context: context) }
        router.post("/files/upload") { request, _ in try await upload(request) }
        router.post("/files/upload/multipart") { request, _ in try await createMultipart(request) }
        router.put("/files/:day/:name/multipart/:uploadId/:partNumber") { request, context in
            try await uploadPart(request, context: context)
        }
        router.post("/files/:day/:name/multipart/:uploadId/complete") { request, context in
            try await completeMultipart(request, context: context)
        }
    }

    /// The public URL of a stored file.
    func fileURL(_ key: String) -> String {
        "\(publicURL.string)/files/\(key)"
    }

    /// The file key named by the `:day/:name` path parameters; 404 unless it is one the store could hold.
    func pathKey(_ context: GantryRequestContext) throws -> String {
        let key = "\(context.parameters.get("day") ?? "")/\(context.parameters.get("name") ?? "")"
        guard isValidFileKey(key) else { throw APIError(.notFound, "file_not_found", "File not found") }
        return key
    }

    /// Streams a request body into the store under `key`: refused past `maxUploadBytes` (declared or counted),
    /// staged in the data directory, then moved into place whole. Returns the size.
    ///
    /// Files never change, so a second body for a key that already holds one is refused — unless it is the same
    /// bytes: a client that lost the first answer and sent again gets its success. (The refusal is a 403, not a 409,
    /// because `fal_client` retries 409s.)
    @discardableResult
    func receive(_ request: Request, key: String, contentType: String) async throws -> Int {
        try BodySpool.checkDeclaredLength(request.headers[.contentLength], limit: maxUploadBytes)
        let staged = staging.newIncomingFile()
        let size = try await BodySpool.spool(request.body, to: staged, limit: maxUploadBytes)
        defer { unlink(staged.path) }
        do {
            try await files.putFile(at: staged, key: key, contentType: contentType)
        } catch let error as FileStoreError where error.code == .exists {
            guard let existing = try await files.get(key: key), existing.data.count == size,
                  existing.data == (try Data(contentsOf: staged)) else {
                throw APIError(.forbidden, "already_uploaded", "A different file was already uploaded to this URL")
            }
        }
        return size
    }

    /// The upload's content type: the request's `Content-Type` when it is a plausible one, else
    /// `application/octet-stream`.
    static func contentType(_ header: String?) -> String {
        guard let header else { return "application/octet-stream" }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        let plausible = !trimmed.isEmpty && trimmed.count <= 200 && trimmed.contains("/")
            && trimmed.unicodeScalars.allSatisfy { $0.isASCII && $0.value >= 0x20 && $0.value != 0x7F }
        return plausible ? trimmed : "application/octet-stream"
    }
}

extension HTTPField.Name {
    /// The uploaded file's name (`fal_client` sends it when it knows one); only its extension is used.
    static let falFileName = HTTPField.Name("x-fal-file-name")!
}
