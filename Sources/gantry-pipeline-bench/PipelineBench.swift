// The Swift side of bench/pipeline.sh: times the Imaging primitives and the
// Fooocus inpaint chain on the inputs bench/pipeline_reference.py wrote, with
// the same protocol as the Python side (one warm-up call, then calls until
// MAX, or until at least MIN calls and BUDGET seconds; the median counts), and
// writes the whole chain's outputs for the byte-identity check.
//
// Usage: gantry-pipeline-bench DIR SIZES MIN MAX BUDGET OUT.json
import Dispatch
import Fooocus
import Foundation
import Imaging

struct Record: Codable {
    var op: String
    var size: Int
    var input: String
    var median_ms: Double
    var calls: Int
    var samples_ms: [Double]
    var crc32: UInt32
}

struct ChainInfo: Codable {
    var size: Int
    var input: String
    var box: [Int]
    var working_size: [Int]
}

struct Report: Codable {
    var side = "swift"
    var meta: [String: String]
    var records: [Record]
    var chains: [ChainInfo]
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
}

/// GLD1 files: "GLD1", little-endian UInt32 width, height, channels, then the samples.
enum RawFile {
    static func read(_ path: String) throws -> Image {
        guard let data = FileManager.default.contents(atPath: path) else { throw BenchError(description: "cannot read \(path)") }
        let bytes = [UInt8](data)
        guard bytes.count >= 16, bytes[0..<4].elementsEqual("GLD1".utf8) else {
            throw BenchError(description: "\(path): not a GLD1 file")
        }
        func u32(_ at: Int) -> Int {
            Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
        }
        let (w, h, c) = (u32(4), u32(8), u32(12))
        guard bytes.count == 16 + w * h * c else { throw BenchError(description: "\(path): wrong length") }
        return Image(width: w, height: h, channels: c, pixels: Array(bytes[16...]))
    }

    static func write(_ image: Image, to path: String) throws {
        var blob = [UInt8]("GLD1".utf8)
        for v in [image.width, image.height, image.channels] {
            let u = UInt32(v)
            blob += [UInt8(u & 0xFF), UInt8((u >> 8) & 0xFF), UInt8((u >> 16) & 0xFF), UInt8(u >> 24)]
        }
        blob += image.pixels
        guard FileManager.default.createFile(atPath: path, contents: Data(blob)) else {
            throw BenchError(description: "cannot write \(path)")
        }
    }
}

/// zlib's CRC-32 (what Python's `zlib.crc32` computes).
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            bytes.withUnsafeBufferPointer { b in
                for byte in b { c = t[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
            }
        }
        return c ^ 0xFFFF_FFFF
    }
}

struct Protocol {
    let minCalls: Int
    let maxCalls: Int
    let budget: Double

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    func measure(_ body: () throws -> Image) rethrows -> (last: Image, samples: [Double]) {
        var last = try body()  // warm-up
        var samples: [Double] = []
        let start = Self.now()
        while samples.count < maxCalls
            && !(samples.count >= minCalls && Double(Self.now() - start) / 1e9 >= budget)
        {
            let t0 = Self.now()
            last = try body()
            samples.append(Double(Self.now() - t0) / 1e6)
        }
        return (last, samples)
    }
}

/// The whole chain, as the Python reference runs it: mask prep → crop box (k = 0.618) → 4× stand-in when small →
/// shape ceil 1024 → working mask → fill → blend mask; then the paste-back of the working crop itself.
func chain(image: Image, mask3: Image) throws -> (result: Image, prep: InpaintPreparation) {
    let (canvas, mask) = try MaskPreparation.prepare(image: image, mask: mask3)
    let prep = try InpaintPreparation.prepare(image: canvas, mask: mask, respectiveField: 0.618, useFill: true)
    return (prep.finish(generated: prep.workingCrop), prep)
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func run(_ args: [String]) throws {
    guard args.count == 7, let minCalls = Int(args[3]), let maxCalls = Int(args[4]), let budget = Double(args[5]) else {
        throw BenchError(description: "usage: gantry-pipeline-bench DIR SIZES MIN MAX BUDGET OUT.json")
    }
    let dir = args[1]
    let sizes = args[2].split(separator: ",").compactMap { Int($0) }
    let proto = Protocol(minCalls: minCalls, maxCalls: maxCalls, budget: budget)
    var records: [Record] = []
    var chains: [ChainInfo] = []
    for n in sizes {
        let syn = try RawFile.read("\(dir)/syn_\(n)_rgb.raw")
        let rgba = try RawFile.read("\(dir)/syn_\(n)_rgba.raw")
        let mask = try RawFile.read("\(dir)/syn_\(n)_mask.raw")
        let mask3 = try RawFile.read("\(dir)/syn_\(n)_mask3.raw")
        let fx = try RawFile.read("\(dir)/fx_\(n)_rgb.raw")
        let fxMask3 = try RawFile.read("\(dir)/fx_\(n)_mask3.raw")
        let ops: [(String, String, () throws -> Image)] = [
            ("lanczos_half", "synthetic", { Resample.lanczos(syn, width: n / 2, height: n / 2) }),
            ("lanczos_double", "synthetic", { Resample.lanczos(syn, width: n * 2, height: n * 2) }),
            ("boxblur_r3", "synthetic", { BoxBlur.blur(syn, radius: 3) }),
            ("boxblur_r512", "synthetic", { BoxBlur.blur(syn, radius: 512) }),
            ("dilate_k5", "synthetic", { Morphology.dilate(mask, iterations: 5) }),
            ("erode_k5", "synthetic", { Morphology.erode(mask, iterations: 5) }),
            ("hwc3_rgba", "synthetic", { PixelOps.hwc3(rgba) }),
            ("fill", "synthetic", { InpaintFill.fill(image: syn, mask: mask) }),
            ("blend_mask", "synthetic", { BlendMask.feathered(mask: mask) }),
            ("chain", "fixture", { try chain(image: fx, mask3: fxMask3).result }),
            ("chain", "synthetic", { try chain(image: syn, mask3: mask3).result }),
        ]
        for (name, source, body) in ops {
            let (last, samples) = try proto.measure(body)
            let m = median(samples)
            records.append(Record(op: name, size: n, input: source, median_ms: m, calls: samples.count,
                                  samples_ms: samples, crc32: CRC32.checksum(last.pixels)))
            let line = "swift  \(name.padding(toLength: 15, withPad: " ", startingAt: 0)) "
                + "\(source.padding(toLength: 9, withPad: " ", startingAt: 0)) \(n)  "
                + String(format: "%10.2f ms  (%d calls)\n", m, samples.count)
            FileHandle.standardError.write(Data(line.utf8))
        }
        for (source, image, m3) in [("fixture", fx, fxMask3), ("synthetic", syn, mask3)] {
            let (result, prep) = try chain(image: image, mask3: m3)
            let parts: [(String, Image)] = [("result", result), ("fill", prep.fill), ("working_mask", prep.workingMask),
                                            ("working_crop", prep.workingCrop), ("blend_mask", prep.blendMask)]
            for (part, img) in parts {
                try RawFile.write(img, to: "\(dir)/swift_chain_\(source)_\(n)_\(part).raw")
            }
            chains.append(ChainInfo(size: n, input: source, box: [prep.box.a, prep.box.b, prep.box.c, prep.box.d],
                                    working_size: [prep.workingHeight, prep.workingWidth]))
        }
    }
    let env = ProcessInfo.processInfo.environment
    let threads = env["GANTRY_IMAGING_THREADS"] ?? String(ProcessInfo.processInfo.activeProcessorCount)
    let report = Report(meta: ["threads": threads, "cores": String(ProcessInfo.processInfo.activeProcessorCount)],
                        records: records, chains: chains)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    guard FileManager.default.createFile(atPath: args[6], contents: try encoder.encode(report)) else {
        throw BenchError(description: "cannot write \(args[6])")
    }
}

@main
struct PipelineBench {
    static func main() {
        do {
            try run(CommandLine.arguments)
        } catch {
            FileHandle.standardError.write(Data("gantry-pipeline-bench: \(error)\n".utf8))
            exit(1)
        }
    }
}
