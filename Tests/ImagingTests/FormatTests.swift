import Foundation
import Testing
@testable import Imaging

/// Sniffing, refusal of other formats, JPEG/WebP specifics, damaged input.
@Suite struct FormatTests {
    @Test func sniffRecognisesMagicBytes() throws {
        let image = gradientImage(width: 4, height: 4, channels: 3)
        for format in ImageFormat.allCases {
            #expect(ImageCodec.sniff(try ImageCodec.encode(image, as: format)) == format)
        }
        #expect(ImageCodec.sniff(Data()) == nil)
        #expect(ImageCodec.sniff(Data([0xFF, 0xD8])) == nil)
        #expect(ImageCodec.sniff(Data("RIFF\0\0\0\0WAVE".utf8)) == nil)
        #expect(ImageCodec.sniff(Data(fixture: Fixtures.gif)) == nil)
    }

    @Test func formatMetadata() {
        #expect(ImageFormat.png.contentType == "image/png" && ImageFormat.png.fileExtension == "png")
        #expect(ImageFormat.jpeg.contentType == "image/jpeg" && ImageFormat.jpeg.fileExtension == "jpg")
        #expect(ImageFormat.webp.contentType == "image/webp" && ImageFormat.webp.fileExtension == "webp")
        #expect(ImageFormat(rawValue: "jpeg") == .jpeg)
    }

    @Test(arguments: [("GIF", Fixtures.gif), ("BMP", Fixtures.bmp), ("TIFF", Fixtures.tiff)])
    func otherFormatsAreUnsupportedAndNamed(name: String, base64: String) {
        let data = Data(fixture: base64)
        let error = #expect(throws: ImageError.self) { try ImageCodec.decode(data) }
        #expect(error?.code == .unsupportedFormat)
        #expect(error?.message.contains(name) == true, "\(String(describing: error))")
        let headerError = #expect(throws: ImageError.self) { try ImageCodec.readHeader(data) }
        #expect(headerError?.code == .unsupportedFormat)
    }

    @Test func svgEmptyAndGarbageAreUnsupported() {
        let svg = Data("  <svg xmlns=\"http://www.w3.org/2000/svg\"/>".utf8)
        #expect(#expect(throws: ImageError.self) { try ImageCodec.decode(svg) }?.message.contains("SVG") == true)
        let empty = #expect(throws: ImageError.self) { try ImageCodec.decode(Data()) }
        #expect(empty?.code == .unsupportedFormat && empty?.message.contains("empty") == true)
        var random = SeededBytes(state: 7)
        for length in [1, 2, 3, 16, 1_000] {
            var bytes = random.bytes(length)
            bytes[0] = 0x13 // no supported or recognised magic starts with this
            let error = #expect(throws: ImageError.self) { try ImageCodec.decode(Data(bytes)) }
            #expect(error?.code == .unsupportedFormat)
            #expect(error?.message.contains("unrecognised") == true)
        }
    }

    @Test func garbageAfterAValidSignatureIsCorrupt() {
        var random = SeededBytes(state: 99)
        let magics: [[UInt8]] = [PNGBuilder.signature, [0xFF, 0xD8, 0xFF], Array("RIFF\u{10}\0\0\0WEBP".utf8)]
        for magic in magics {
            let data = Data(magic + random.bytes(200))
            let error = #expect(throws: ImageError.self) { try ImageCodec.decode(data) }
            #expect(error?.code == .corrupt, "\(String(describing: error))")
        }
    }

    @Test func grayscaleJPEGDecodesToRGBLikePillow() throws {
        let data = Data(fixture: Fixtures.grayJPEG)
        #expect(try ImageCodec.readHeader(data) == ImageHeader(format: .jpeg, width: 8, height: 8, hasAlpha: false))
        let image = try ImageCodec.decode(data)
        #expect(image.channels == 3)
        for (i, luma) in Fixtures.grayJPEGLuma.enumerated() {
            let pixel = image.pixels[(i * 3)..<(i * 3 + 3)]
            #expect(pixel.allSatisfy { $0 == pixel.first }, "pixel \(i) is not gray")
            #expect(abs(Int(pixel.first!) - Int(luma)) <= 1, "pixel \(i)")
        }
    }

    @Test func cmykJPEGIsUnsupported() {
        let error = #expect(throws: ImageError.self) { try ImageCodec.decode(Data(fixture: Fixtures.cmykJPEG)) }
        #expect(error?.code == .unsupportedFormat)
        #expect(error?.message.contains("CMYK") == true)
    }

    @Test func animatedWebPIsUnsupported() {
        let data = Data(fixture: Fixtures.animatedWebP)
        #expect(ImageCodec.sniff(data) == .webp)
        let error = #expect(throws: ImageError.self) { try ImageCodec.decode(data) }
        #expect(error?.code == .unsupportedFormat)
        #expect(error?.message.contains("animated") == true)
    }

    @Test func progressiveJPEGWithThousandsOfScansIsRefused() throws {
        // An 8×8 progressive JPEG (Pillow) whose first DC scan is repeated
        // 2000 times: each scan re-walks the coefficients, so it is a CPU bomb
        // that libjpeg alone would only warn about.
        let head = Data(fixture: "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/wgALCAAIAAgBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAABP/aAAgBAQAAAAEX")
        let scan = Data(fixture: "/9oACAEBAAAAARc=")
        let tail = Data(fixture: "/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABBQJ//8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQAGPwJ//8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPyF//9oACAEBAAAAEH//xAAUEAEAAAAAAAAAAAAAAAAAAAAA/9oACAEBAAE/EH//2Q==")
        #expect(try ImageCodec.decode(head + tail).pixels.count == 8 * 8 * 3)
        let bomb = head + (0..<2_000).reduce(into: Data()) { data, _ in data += scan } + tail
        let start = ContinuousClock.now
        let error = #expect(throws: ImageError.self) { try ImageCodec.decode(bomb) }
        #expect(ContinuousClock.now - start < .seconds(1))
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains("500 scans") == true)
    }

    @Test func dataEndingInsideTheMagicIsCorrupt() {
        let cases: [[UInt8]] = [
            [0x89, 0x50], [0x89, 0x50, 0x4E, 0x47, 0x0D], [0xFF, 0xD8], Array("RIFF".utf8),
            Array("RIFF\0\0\0\0WE".utf8), [0x89, 0x50, 0x4E, 0x47, 0x0A, 0x1A, 0x0A, 0x00, 0x00],
        ]
        for bytes in cases {
            let error = #expect(throws: ImageError.self) { try ImageCodec.decode(Data(bytes)) }
            #expect(error?.code == .corrupt, "\(bytes): \(String(describing: error))")
        }
    }

    @Test(arguments: [ImageFormat.jpeg, .webp])
    func truncatedDataIsCorrupt(format: ImageFormat) throws {
        let data = try ImageCodec.encode(gradientImage(width: 64, height: 64, channels: 3), as: format, quality: 90)
        for length in [data.count / 2, data.count - 10, 30, 12] {
            let error = #expect(throws: ImageError.self) { try ImageCodec.decode(data.prefix(length)) }
            #expect(error?.code == .corrupt, "\(format) length \(length): \(String(describing: error))")
        }
    }

    @Test(arguments: [ImageFormat.jpeg, .webp])
    func everyPrefixAndBitFlipFailsCleanly(format: ImageFormat) throws {
        for lossless in [false, true] where format == .webp || !lossless {
            let data = try ImageCodec.encode(gradientImage(width: 11, height: 9, channels: 4), as: format,
                                             lossless: lossless)
            for length in 0..<data.count {
                do { _ = try ImageCodec.decode(data.prefix(length)) } catch is ImageError {}
            }
            var random = SeededBytes(state: 1234)
            for _ in 0..<300 {
                var bytes = [UInt8](data)
                let index = Int(random.next() % UInt64(bytes.count))
                bytes[index] ^= UInt8(truncatingIfNeeded: random.next() | 1)
                do { _ = try ImageCodec.decode(Data(bytes)) } catch is ImageError {}
            }
        }
    }
}
