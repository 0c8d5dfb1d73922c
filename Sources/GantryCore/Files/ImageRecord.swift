import Foundation

/// An output file as fal returns it: `{url, content_type, file_name, file_size, width, height}`.
public struct ImageRecord: Sendable, Codable, Equatable {
    /// Absolute URL of the stored file, or a `data:` URI in `sync_mode`.
    public var url: String
    public var contentType: String
    public var fileName: String
    public var fileSize: Int
    public var width: Int?
    public var height: Int?

    enum CodingKeys: String, CodingKey {
        case url, width, height
        case contentType = "content_type", fileName = "file_name", fileSize = "file_size"
    }

    public init(url: String, contentType: String, fileName: String, fileSize: Int, width: Int?, height: Int?) {
        self.url = url
        self.contentType = contentType
        self.fileName = fileName
        self.fileSize = fileSize
        self.width = width
        self.height = height
    }
}
