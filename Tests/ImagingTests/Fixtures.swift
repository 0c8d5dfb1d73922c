@testable import Imaging

/// A tiny PNG fixture and the pixels Pillow 10.4 produced for it with
/// `Image.open(...).convert("RGB" or "RGBA")`.
struct PNGFixture: Sendable, CustomStringConvertible {
    let name: String
    let base64: String
    let width: Int
    let height: Int
    let channels: Int
    let expected: [UInt8]
    var description: String { name }
}

/// Fixtures were written byte by byte (zlib + hand-made chunks) to cover
/// layouts Pillow cannot save itself (16-bit RGB, 16-bit gray+alpha, Adam7,
/// tRNS on gray/RGB), then decoded once with Pillow 10.4.0 to get the
/// expected values. Every one is 3×2 or smaller except the 5×5 Adam7 image.
enum Fixtures {
    static let png: [PNGFixture] = [
        PNGFixture(name: "gray8", base64: "iVBORw0KGgoAAAANSUhEUgAAAAMAAAACCAAAAAC4HznGAAAAEElEQVR42mNgaPjPIKhkDAAIrQHm3PSQMwAAAABJRU5ErkJggg==",
                   width: 3, height: 2, channels: 3,
                   expected: [0, 0, 0, 128, 128, 128, 255, 255, 255, 17, 17, 17, 34, 34, 34, 51, 51, 51]),
        PNGFixture(name: "gray1", base64: "iVBORw0KGgoAAAANSUhEUgAAAAMAAAACAQAAAAC1D1u3AAAADElEQVR42mNYwOAAAAIkAOFNFuheAAAAAElFTkSuQmCC",
                   width: 3, height: 2, channels: 3,
                   expected: [255, 255, 255, 0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255, 0, 0, 0]),
        PNGFixture(name: "gray4", base64: "iVBORw0KGgoAAAANSUhEUgAAAAMAAAACBAAAAAB979THAAAADklEQVR42mNg/cAg8QAABO8B7t/GW5wAAAAASUVORK5CYII=",
                   width: 3, height: 2, channels: 3,
                   expected: [0, 0, 0, 85, 85, 85, 255, 255, 255, 17, 17, 17, 136, 136, 136, 238, 238, 238]),
        PNGFixture(name: "gray8_trns", base64: "iVBORw0KGgoAAAANSUhEUgAAAAMAAAACCAAAAAC4HznGAAAAAnRSTlMAgJsrThgAAAAQSURBVHjaY2Bo+M/QoGQMAAn6AlUx7aa5AAAAAElFTkSuQmCC",
                   width: 3, height: 2, channels: 4,
                   expected: [0, 0, 0, 255, 128, 128, 128, 0, 255, 255, 255, 255, 128, 128, 128, 0, 34, 34, 34, 255, 51, 51, 51, 255]),
        PNGFixture(name: "ga8", base64: "iVBORw0KGgoAAAANSUhEUgAAAAMAAAACCAQAAAA3fa6RAAAAFklEQVR42mNg+N/g8J+BgUtETsPIBgAfKQORq4VhWAAAAABJRU5ErkJggg==",
                   width: 3, height: 2, channels: 4,
                   expected: [0, 0, 0, 255, 128, 128, 128, 64, 255, 255, 255, 0, 10, 10, 10, 20, 30, 30, 30, 40, 50, 50, 50, 60]),
        PNGFixture(name: "pal8", base64: "iVBORw0KGgoAAAANSUhEUgAAAAMAAAACCAMAAACqqpYoAAAADFBMVEX/AAAA/wAAAP8KFB4iiCkEAAAAEElEQVR42mNgYGRiYGZgBgAAJAAKKs7CugAAAABJRU5ErkJggg==",
                   width: 3, height: 2, channels: 3,
                   expected: [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 255, 0, 0, 10, 20, 30]),
        PNGFixture(name: "pal2_trns", base64: "iVBORw0KGgoAAAANSUhEUgAAAAMAAAACAgMAAADgGo6JAAAADFBMVEX/AAAA/wAAAP8KFB4iiCkEAAAAA3RSTlMAgMhUShYXAAAADElEQVR42mOQYDgDAAEYAOXCVeYNAAAAAElFTkSuQmCC",
                   width: 3, height: 2, channels: 4,
                   expected: [255, 0, 0, 0, 0, 255, 0, 128, 0, 0, 255, 200, 10, 20, 30, 255, 255, 0, 0, 0, 10, 20, 30, 255]),
        PNGFixture(name: "rgb16", base64: "iVBORw0KGgoAAAANSUhEUgAAAAMAAAACEAIAAABChi0OAAAALklEQVR42mMQMll99j8Dw/8Ghvr///8zMDIyAMH//86KM2eGhvLz//vP+L/hPwArVhCTwKDILwAAAABJRU5ErkJggg==",
                   width: 3, height: 2, channels: 3,
                   expected: [18, 171, 255, 0, 128, 127, 255, 0, 1, 0, 255, 67, 153, 85, 15, 254, 1, 128]),
        PNGFixture(name: "ga16", base64: "iVBORw0KGgoAAAANSUhEUgAAAAMAAAACEAQAAABn7XLSAAAAIUlEQVR42mMQMvn/f/VZBoaGhnpGhv//GxgYgFRU1OHDAI9DCvU/obZVAAAAAElFTkSuQmCC",
                   width: 3, height: 2, channels: 4,
                   expected: [18, 18, 18, 255, 171, 171, 171, 0, 128, 128, 128, 127, 255, 255, 255, 128, 0, 0, 0, 0, 90, 90, 90, 195]),
        PNGFixture(name: "rgba8_adam7", base64: "iVBORw0KGgoAAAANSUhEUgAAAAUAAAAFCAYAAAH6aBZzAAAAeklEQVR42gFvAJD/AKVNyhgA2R4/cgCxC+y1VeXNjgBtEyzeAG+TQn4A2qDu6Hwpmf081lSvACUwux3WI3suALmZf1yv5ZMlAFY7/B7LyP4pAB/LGXEXRJTWSTydXDRgvjEgHmn+AE361xQnoK6z/ukjL4ryIR+e5JHFkdEyDplx9C0AAAAASUVORK5CYII=",
                   width: 5, height: 5, channels: 4,
                   expected: [165, 77, 202, 24, 37, 48, 187, 29, 109, 19, 44, 222, 214, 35, 123, 46, 217, 30, 63, 114, 31, 203, 25, 113, 23, 68, 148, 214, 73, 60, 157, 92, 52, 96, 190, 49, 32, 30, 105, 254, 218, 160, 238, 232, 185, 153, 127, 92, 124, 41, 153, 253, 175, 229, 147, 37, 60, 214, 84, 175, 77, 250, 215, 20, 39, 160, 174, 179, 254, 233, 35, 47, 138, 242, 33, 31, 158, 228, 145, 197, 177, 11, 236, 181, 86, 59, 252, 30, 111, 147, 66, 126, 203, 200, 254, 41, 85, 229, 205, 142]),
        PNGFixture(name: "rgb8_trns", base64: "iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAABnRSTlMAAQACAAPJS6v1AAAAD0lEQVR42mNgZGJmYWUDAAA/ABaYwWgTAAAAAElFTkSuQmCC",
                   width: 2, height: 1, channels: 4,
                   expected: [1, 2, 3, 0, 4, 5, 6, 255]),
        PNGFixture(name: "gray16", base64: "iVBORw0KGgoAAAANSUhEUgAAAAIAAAABEAAAAACB2fwVAAAADUlEQVR42mMQMmE4AQABsQEPQ8HiPAAAAABJRU5ErkJggg==",
                   width: 2, height: 1, channels: 3,
                   // Pillow 10.4 gives [255, 255, 255, 200, 200, 200] here: it opens
                   // 16-bit gray as "I;16" and convert() clips to 255. We keep the
                   // high byte like every other 16-bit layout (0x1234 → 0x12).
                   expected: [18, 18, 18, 0, 0, 0]),
    ]

    /// 8×8 grayscale JPEG (Pillow, quality 95) with pixel (x, y) ≈ 32x + 4y.
    static let grayJPEG = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAIBAQEBAQIBAQECAgICAgQDAgICAgUEBAMEBgUGBgYFBgYGBwkIBgcJBwYGCAsICQoKCgoKBggLDAsKDAkKCgr/wAALCAAIAAgBAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/AK//AAbcfDb/AJAH+j/88u30r//Z"
    /// Pillow's `convert("L")` of grayJPEG, row-major.
    static let grayJPEGLuma: [UInt8] = [
        0, 32, 64, 96, 128, 160, 191, 224, 4, 36, 68, 100, 132, 164, 195, 228,
        8, 41, 72, 104, 136, 168, 200, 233, 12, 44, 76, 108, 140, 172, 203, 236,
        16, 49, 80, 112, 144, 176, 208, 240, 19, 52, 84, 116, 148, 180, 211, 244,
        24, 57, 88, 120, 152, 184, 216, 248, 28, 61, 92, 124, 156, 188, 220, 252,
    ]
    /// 4×4 Adobe CMYK JPEG from Pillow.
    static let cmykJPEG = "/9j/7gAOQWRvYmUAZAAAAAAA/9sAQwAIBgYHBgUIBwcHCQkICgwUDQwLCwwZEhMPFB0aHx4dGhwcICQuJyAiLCMcHCg3KSwwMTQ0NB8nOT04MjwuMzQy/8AAFAgABAAEBEMRAE0RAFkRAEsRAP/EAB8AAAEFAQEBAQEBAAAAAAAAAAABAgMEBQYHCAkKC//EALUQAAIBAwMCBAMFBQQEAAABfQECAwAEEQUSITFBBhNRYQcicRQygZGhCCNCscEVUtHwJDNicoIJChYXGBkaJSYnKCkqNDU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6g4SFhoeIiYqSk5SVlpeYmZqio6Slpqeoqaqys7S1tre4ubrCw8TFxsfIycrS09TV1tfY2drh4uPk5ebn6Onq8fLz9PX29/j5+v/aAA4EQwBNAFkASwAAPwD3Wva69hr1ev/Z"
    /// Two-frame 4×4 animated lossless WebP from Pillow.
    static let animatedWebP = "UklGRoQAAABXRUJQVlA4WAoAAAACAAAAAwAAAwAAQU5JTQYAAAAAAAAAAABBTk1GKAAAAAAAAAAAAAMAAAMAAGQAAAJWUDhMDwAAAC8DwAAABxD9j/4HIqL/AQBBTk1GKAAAAAAAAAAAAAMAAAMAAGQAAABWUDhMDwAAAC8DwAAAB9D/iP4HIqL/AQA="
    /// 4×4 GIF87a, BMP and TIFF from Pillow, for the refusal tests.
    static let gif = "R0lGODdhBAAEAIEAAP8AAAAAAAAAAAAAACwAAAAABAAEAAAICQABCBxIsCCAgAA7"
    static let bmp = "Qk1mAAAAAAAAADYAAAAoAAAABAAAAAQAAAABABgAAAAAADAAAADEDgAAxA4AAAAAAAAAAAAAAAD/AAD/AAD/AAD/AAD/AAD/AAD/AAD/AAD/AAD/AAD/AAD/AAD/AAD/AAD/AAD/"
    static let tiff = "SUkqAAgAAAAKAAABBAABAAAABAAAAAEBBAABAAAABAAAAAIBAwADAAAAhgAAAAMBAwABAAAAAQAAAAYBAwABAAAAAgAAABEBBAABAAAAjAAAABUBAwABAAAAAwAAABYBBAABAAAABAAAABcBBAABAAAAMAAAABwBAwABAAAAAQAAAAAAAAAIAAgACAD/AAD/AAD/AAD/AAD/AAD/AAD/AAD/AAD/AAD/AAD/AAD/AAD/AAD/AAD/AAD/AAA="
}
