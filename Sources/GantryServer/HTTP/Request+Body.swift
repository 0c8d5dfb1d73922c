import Foundation
import Hummingbird
import NIOCore

extension Request {
    /// The whole body, refused with 413 and the envelope once it passes `limit` bytes: at once when the declared
    /// `Content-Length` is larger (before any body byte is read), else as the bytes arrive (chunked bodies).
    /// A body the HTTP parser cannot read throws the parser's error; the error middleware answers it with 400.
    /// - Parameter what: names the body in the error ("Request body", "The file").
    func bodyUpTo(_ limit: Int, what: String = "Request body") async throws -> ByteBuffer {
        let tooLarge = APIError(.contentTooLarge, "request_too_large", "\(what) is larger than \(limit) bytes")
        try BodySpool.checkDeclaredLength(headers[.contentLength], limit: limit, error: tooLarge)
        do {
            return try await body.collect(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw tooLarge
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
    }
}
