import Glibc

/// Percent-decoding of the path and query arguments, which libmicrohttpd hands over with
/// their escapes intact (shim.c, baton_mhd_keep_escapes): its own decoder writes `%00` as a
/// NUL, and a C string ends there, so `api_key=A%00junk` reached handlers as `A`.
/// Decoded as libmicrohttpd's MHD_http_unescape did (`%HH` only; anything else kept), but
/// into a Swift String, NUL included. Invalid UTF-8 becomes U+FFFD.
enum URIDecoding {
    static func decoded(_ raw: UnsafePointer<CChar>) -> String {
        let count = strlen(raw)
        return raw.withMemoryRebound(to: UInt8.self, capacity: count) { p in
            decoded(UnsafeBufferPointer(start: p, count: count))
        }
    }

    static func decoded(_ b: UnsafeBufferPointer<UInt8>) -> String {
        guard b.contains(UInt8(ascii: "%")) else { return String(decoding: b, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "%"), i + 2 < b.count, let h = hex(b[i + 1]), let l = hex(b[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x41 + 10
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }
}
