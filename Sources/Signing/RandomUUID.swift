import Foundation
import CCryptoShim
import Synchronization

extension UUID {
    /// A version-4 UUID from the system CSPRNG, drawn from a process-wide pool (`RandomPool`).
    ///
    /// Foundation's `UUID.secureRandom()` reads `/dev/urandom` through a file descriptor and, on Linux, quietly returns the
    /// all-zero UUID when it cannot open one. A host out of descriptors would then hand every new request, file and
    /// upload the same id; this never needs a descriptor.
    public static func secureRandom() -> UUID {
        var raw = RandomPool.shared.next16()
        return withUnsafeMutableBytes(of: &raw) { bytes in
            bytes[6] = (bytes[6] & 0x0F) | 0x40  // version 4
            bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
            return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                               bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
        }
    }

    /// The canonical text form in lower case (`8-4-4-4-12` hex digits), as fal writes request ids.
    public var lowercasedString: String {
        let digits: StaticString = "0123456789abcdef"
        return withUnsafeBytes(of: uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { out in
                var at = 0
                for (index, byte) in bytes.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 { out[at] = UInt8(ascii: "-"); at += 1 }
                    out[at] = digits.utf8Start[Int(byte >> 4)]
                    out[at + 1] = digits.utf8Start[Int(byte & 0x0F)]
                    at += 2
                }
                return at
            }
        }
    }
}

/// Random bytes from OpenSSL's CSPRNG (seeded by the kernel's `getrandom`), fetched 4 KiB at a time.
///
/// Every request id is a UUID. Two `getrandom` system calls per id (`SystemRandomNumberGenerator` reads eight
/// bytes a call) were a measurable part of a no-op request; one fill per 256 ids is not. The host never forks,
/// so no copy of the pool can hand out the same bytes twice.
final class RandomPool: Sendable {
    static let shared = RandomPool()

    private struct Buffer: ~Copyable {
        var bytes = [UInt8](repeating: 0, count: 4096)
        var used = 4096
    }

    private let buffer = Mutex(Buffer())

    /// The next 16 unused bytes.
    func next16() -> (UInt64, UInt64) {
        buffer.withLock { pool in
            if pool.used == pool.bytes.count { Self.fill(&pool.bytes); pool.used = 0 }
            defer { pool.used += 16 }
            return pool.bytes.withUnsafeBytes { raw in
                (raw.loadUnaligned(fromByteOffset: pool.used, as: UInt64.self),
                 raw.loadUnaligned(fromByteOffset: pool.used + 8, as: UInt64.self))
            }
        }
    }

    private static func fill(_ bytes: inout [UInt8]) {
        let filled = bytes.withUnsafeMutableBufferPointer { gantry_random_bytes($0.baseAddress, $0.count) }
        // Handing out predictable ids would be worse than stopping: OpenSSL fails only without any entropy source.
        precondition(filled == 1, "the system CSPRNG failed")
    }
}
