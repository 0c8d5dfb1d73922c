import CCryptoShim
import Foundation

/// SHA-256 through OpenSSL's libcrypto.
public enum SHA256 {
    /// The 32-byte digest of `bytes`.
    public static func digest<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let ok = withContiguous(bytes) { pointer, count in gantry_sha256(pointer, count, &out) }
        precondition(ok == 1, "SHA-256 failed")
        return out
    }

    /// The digest as lowercase hex (64 characters).
    public static func hex<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
        Hex.encode(digest(bytes))
    }
}

/// HMAC-SHA-256 through OpenSSL's libcrypto.
public enum HMACSHA256 {
    /// The 32-byte MAC of `data` under `key`.
    public static func mac<Bytes: Collection<UInt8>>(key: [UInt8], data: Bytes) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let ok = withContiguous(data) { pointer, count in gantry_hmac_sha256(key, key.count, pointer, count, &out) }
        precondition(ok == 1, "HMAC-SHA-256 failed")
        return out
    }
}

/// Bytes from the operating system's cryptographically secure generator.
public enum SecureRandom {
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        precondition(gantry_random_bytes(&out, count) == 1, "the system random generator failed")
        return out
    }
}

/// Compares two byte strings without leaking, through timing, where they first differ.
public func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    guard lhs.count == rhs.count else { return false }
    return gantry_constant_time_equal(lhs, rhs, lhs.count) == 1
}

/// Lowercase hexadecimal.
public enum Hex {
    public static func encode<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Nil unless `text` is an even number of hex digits (either case).
    public static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): char - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): char - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): char - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Base64url without padding (RFC 4648 §5), as JWKS and tokens use it.
public enum Base64URL {
    public static func encode<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Nil unless `text` is the canonical unpadded base64url spelling of some bytes.
    public static func decode(_ text: String) -> [UInt8]? {
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        // Canonical encodings only: unused trailing bits must be zero, so one value has exactly one spelling (a
        // token with a changed last character must not verify).
        guard let bytes = Data(base64Encoded: base64).map({ Array($0) }), encode(bytes) == text else { return nil }
        return bytes
    }
}

func withContiguous<Bytes: Collection<UInt8>, R>(_ bytes: Bytes, _ body: (UnsafePointer<UInt8>?, Int) -> R) -> R {
    if let result = bytes.withContiguousStorageIfAvailable({ body($0.baseAddress, $0.count) }) { return result }
    let copy = Array(bytes)
    return copy.withUnsafeBufferPointer { body($0.baseAddress, $0.count) }
}
