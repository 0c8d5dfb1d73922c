import Foundation

extension UUID {
    /// A version-4 UUID from the kernel's `getrandom` (through `SystemRandomNumberGenerator`).
    ///
    /// Foundation's `UUID.secureRandom()` reads `/dev/urandom` through a file descriptor and, on Linux, quietly returns the
    /// all-zero UUID when it cannot open one. A host out of descriptors would then hand every new request, file and
    /// upload the same id; this never needs a descriptor.
    public static func secureRandom() -> UUID {
        var generator = SystemRandomNumberGenerator()
        var bytes = (generator.next() as UInt64, generator.next() as UInt64)
        return withUnsafeMutableBytes(of: &bytes) { raw in
            raw[6] = (raw[6] & 0x0F) | 0x40  // version 4
            raw[8] = (raw[8] & 0x3F) | 0x80  // RFC 4122 variant
            return UUID(uuid: (raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
                               raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15]))
        }
    }
}
