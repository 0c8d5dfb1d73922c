import Imaging
import Testing

/// Every primitive against the outputs of real Pillow 10.4 / OpenCV 4.10 /
/// numpy (see GoldenSupport.swift): zero differing bytes allowed.
@Suite struct GoldenTests {
    /// Runs `c` through `body` and compares with its `outputRole` output.
    func check(_ c: GoldenCase, outputRole: String, _ body: (GoldenSet) throws -> Image) throws {
        if let problem = c.problem {
            Issue.record(Comment(rawValue: problem))
            return
        }
        let set = try GoldenSet.shared.get()
        let actual = try body(set)
        let expected = try set.output(c, outputRole)
        if let mismatch = GoldenSet.mismatch(actual, expected) {
            Issue.record("golden case \(c.name) (\(c.op) \(GoldenValue.object(c.params))): \(mismatch)")
        }
    }

    @Test(arguments: GoldenSet.cases(op: "lanczos"))
    func lanczos(_ c: GoldenCase) throws {
        try check(c, outputRole: "image") { set in
            Resample.lanczos(try set.input(c, "image"), width: try c.int("width"), height: try c.int("height"))
        }
    }

    @Test(arguments: GoldenSet.cases(op: "box_blur"))
    func boxBlur(_ c: GoldenCase) throws {
        try check(c, outputRole: "image") { set in
            BoxBlur.blur(try set.input(c, "image"), radius: try c.int("radius"))
        }
    }

    @Test(arguments: GoldenSet.cases(op: "dilate"))
    func dilate(_ c: GoldenCase) throws {
        try check(c, outputRole: "mask") { set in
            Morphology.dilate(try set.input(c, "mask"), iterations: try c.int("iterations"))
        }
    }

    @Test(arguments: GoldenSet.cases(op: "erode"))
    func erode(_ c: GoldenCase) throws {
        try check(c, outputRole: "mask") { set in
            Morphology.erode(try set.input(c, "mask"), iterations: try c.int("iterations"))
        }
    }

    @Test(arguments: GoldenSet.cases(op: "erode_or_dilate"))
    func erodeOrDilate(_ c: GoldenCase) throws {
        try check(c, outputRole: "mask") { set in
            Morphology.erodeOrDilate(try set.input(c, "mask"), k: try c.int("k"))
        }
    }

    @Test(arguments: GoldenSet.cases(op: "hwc3"))
    func hwc3(_ c: GoldenCase) throws {
        try check(c, outputRole: "image") { set in PixelOps.hwc3(try set.input(c, "image")) }
    }

    @Test(arguments: GoldenSet.cases(op: "up255"))
    func up255(_ c: GoldenCase) throws {
        try check(c, outputRole: "mask") { set in
            let t = try c.int("threshold")
            guard (0...255).contains(t) else { throw GoldenError("\(c.name): threshold \(t) outside 0...255") }
            return PixelOps.up255(try set.input(c, "mask"), threshold: UInt8(t))
        }
    }
}
