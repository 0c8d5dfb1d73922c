/// SplitMix64: the reference engine's only source of randomness (never the
/// system generator), so a seed fixes the result.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<n` (n > 0) by a 32×32-bit multiply (bias below n·2⁻³²).
    @inline(__always)
    mutating func below(_ n: Int) -> Int {
        Int(((next() >> 32) &* UInt64(UInt32(truncatingIfNeeded: n))) >> 32)
    }

    /// The generator of one unit of work, derived from the seed and the unit's
    /// coordinates (level, iteration, band, …), so no unit depends on the order
    /// in which others ran.
    static func derived(_ seed: UInt64, _ parts: Int...) -> SplitMix64 {
        var mixer = SplitMix64(seed: seed)
        var state = mixer.next()
        for part in parts {
            mixer = SplitMix64(seed: state ^ (UInt64(bitPattern: Int64(part)) &* 0xD6E8_FEB8_6659_FD93))
            state = mixer.next()
        }
        return SplitMix64(seed: state)
    }
}
