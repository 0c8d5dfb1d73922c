// The Swift side of bench/engine_quality.sh: runs one inpaint request through
// the real pipeline (MaskPreparation → InpaintPreparation(k, fill) →
// ReferenceEngine → finish) and writes the result as PNG, timing each stage.
//
// Usage: gantry-engine-bench IMAGE MASK OUT.png [SEED] [K] [REPEATS] [ENGINE]
// ENGINE is `reference` (default) or `fill` (the Fooocus fill itself as the generated image).
// Prints one JSON line: {"prepare_ms":…, "engine_ms":…, "finish_ms":…, "encode_ms":…, "total_ms":…}
// (engine_ms is the median over REPEATS runs, default 1).
import Dispatch
import Fooocus
import Foundation
import Imaging

struct BenchError: Error, CustomStringConvertible { let description: String }

@main
struct EngineBench {
    static func milliseconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
    }

    static func load(_ path: String) throws -> Image {
        guard let data = FileManager.default.contents(atPath: path) else { throw BenchError(description: "cannot read \(path)") }
        return try ImageCodec.decode(data)
    }

    static func main() async throws {
        let args = CommandLine.arguments
        guard args.count >= 4 else {
            FileHandle.standardError.write("usage: gantry-engine-bench IMAGE MASK OUT.png [SEED] [K] [REPEATS] [reference|fill]\n".data(using: .utf8)!)
            exit(2)
        }
        let seed = args.count > 4 ? UInt64(args[4]) ?? 0 : 0
        let k = args.count > 5 ? Double(args[5]) ?? 0.618 : 0.618
        let repeats = args.count > 6 ? max(1, Int(args[6]) ?? 1) : 1
        let useFillOnly = args.count > 7 && args[7] == "fill"
        let image = try load(args[1])
        let mask = try load(args[2])

        let t0 = DispatchTime.now()
        let canvas = try MaskPreparation.prepare(image: image, mask: mask)
        let prep = try InpaintPreparation.prepare(image: canvas.image, mask: canvas.mask, respectiveField: k, useFill: true)
        let prepareMs = milliseconds(since: t0)

        let engine = ReferenceEngine()
        let task = InpaintTask(preparation: prep, seed: seed, strength: 1, prompt: "")
        var times: [Double] = []
        var generated: Image? = nil
        for _ in 0..<repeats {
            let t1 = DispatchTime.now()
            generated = useFillOnly ? prep.fill : try await engine.inpaint(task) { _ in }
            times.append(milliseconds(since: t1))
        }
        times.sort()
        let engineMs = times[times.count / 2]

        let t2 = DispatchTime.now()
        let result = prep.finish(generated: generated!)
        let finishMs = milliseconds(since: t2)
        let t3 = DispatchTime.now()
        let png = try ImageCodec.encode(result, as: .png)
        let encodeMs = milliseconds(since: t3)
        try png.write(to: URL(fileURLWithPath: args[3]))
        let box = prep.box
        print("""
        {"prepare_ms": \(prepareMs), "engine_ms": \(engineMs), "finish_ms": \(finishMs), "encode_ms": \(encodeMs), \
        "total_ms": \(prepareMs + engineMs + finishMs + encodeMs), "box": [\(box.a), \(box.b), \(box.c), \(box.d)], \
        "generated": [\(generated!.width), \(generated!.height)]}
        """)
    }
}
