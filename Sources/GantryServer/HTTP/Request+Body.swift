import Foundation
import Hummingbird
import NIOCore

extension Request {
    /// The whole body, refused with 413 and the envelope once it passes `limit` bytes.
    /// - Parameter what: names the body in the error ("Request body", "The file").
    func bodyUpTo(_ limit: Int, what: String = "Request body") async throws -> ByteBuffer {
        do {
            return try await body.collect(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, "request_too_large", "\(what) is larger than \(limit) bytes")
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "request_too_large", "\(what) is larger than \(limit) bytes")
        }
    }
}
