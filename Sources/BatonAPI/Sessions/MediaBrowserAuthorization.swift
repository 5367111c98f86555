/// The `Token` of a `MediaBrowser` authorization header, read as Jellyfin reads it
/// (AuthorizationContext.GetAuthorization and GetParts, identical in v10.9.0 – v12.0-rc5):
/// - the scheme is the text before the first U+0020 (a tab does not end it), compared
///   without case to `MediaBrowser` (or `Emby` when legacy forms count); otherwise no parts;
/// - `"` toggles "inside quotes"; outside, `=` ends a key (whitespace-trimmed, case-sensitive)
///   and `,` ends a value; a value is stored only when non-empty, and only then is the key
///   forgotten (so `Token=,x` stores `x` as Token); a later `Token` overwrites an earlier one;
/// - the value has every leading and trailing `"` removed (whitespace is kept), then
///   `WebUtility.UrlDecode` (`+` is a space, `%HH` bytes, invalid UTF-8 becomes U+FFFD).
/// Works on the UTF-8 bytes: every character the grammar looks at is ASCII.
public enum MediaBrowserAuthorization {
    public static func token(in header: String, acceptEmby: Bool) -> String? {
        var header = header
        return header.withUTF8 { token(in: $0, acceptEmby: acceptEmby) }
    }

    private static let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), equals = UInt8(ascii: "=")
    private static let tokenKey = Array("Token".utf8)

    static func token(in b: UnsafeBufferPointer<UInt8>, acceptEmby: Bool) -> String? {
        guard let space = b.firstIndex(of: 0x20) else { return nil }
        let scheme = UnsafeBufferPointer(rebasing: b[..<space])
        guard equalsIgnoringASCIICase(scheme, "mediabrowser") || (acceptEmby && equalsIgnoringASCIICase(scheme, "emby")) else {
            return nil
        }
        var inQuotes = false
        var start = space + 1
        var keyIsToken = false
        var token: Range<Int>?
        var i = space + 1
        while i < b.count {
            let c = b[i]
            if c == quote {
                inQuotes.toggle()
            } else if c == comma {
                if !inQuotes {
                    if start < i {
                        if keyIsToken { token = start..<i }
                        keyIsToken = false
                    }
                    start = i + 1
                }
            } else if c == equals && !inQuotes {
                keyIsToken = isTokenKey(UnsafeBufferPointer(rebasing: b[start..<i]))
                start = i + 1
            }
            i += 1
        }
        if start < b.count && keyIsToken { token = start..<b.count }
        guard let token else { return nil }
        var lo = token.lowerBound, hi = token.upperBound
        while lo < hi && b[lo] == quote { lo += 1 }
        while hi > lo && b[hi - 1] == quote { hi -= 1 }
        return WebUtilityDecoding.urlDecoded(UnsafeBufferPointer(rebasing: b[lo..<hi]))
    }

    /// `key.Trim() == "Token"`: .NET's Trim removes Unicode White_Space from both ends.
    static func isTokenKey(_ key: UnsafeBufferPointer<UInt8>) -> Bool {
        if key.count == tokenKey.count { return key.elementsEqual(tokenKey) }
        guard key.count > tokenKey.count else { return false }
        // Every key after the first is preceded by a space (`, Device="…"`), so this runs for
        // most keys of every header. For ASCII, Unicode White_Space is exactly TAB, LF, VT,
        // FF, CR and SPACE: trim those bytes instead of decoding the key (the decoding was a
        // fifth of a cached validation, issue 17). A key with any non-ASCII byte (U+0085,
        // U+00A0, U+3000 … are whitespace too) takes the general path below.
        if !key.contains(where: { $0 >= 0x80 }) {
            var lo = 0, hi = key.count
            while lo < hi && isASCIIWhitespace(key[lo]) { lo += 1 }
            while hi > lo && isASCIIWhitespace(key[hi - 1]) { hi -= 1 }
            return UnsafeBufferPointer(rebasing: key[lo..<hi]).elementsEqual(tokenKey)
        }
        return isTokenKeyDecoding(key)
    }

    private static func isASCIIWhitespace(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0D) }

    /// `isTokenKey` by decoding the key and trimming Unicode White_Space: the definition.
    static func isTokenKeyDecoding(_ key: UnsafeBufferPointer<UInt8>) -> Bool {
        let scalars = String(decoding: key, as: UTF8.self).unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return false }
        return String(scalars[first...last]) == "Token"
    }

    private static func equalsIgnoringASCIICase(_ b: UnsafeBufferPointer<UInt8>, _ lower: StaticString) -> Bool {
        guard b.count == lower.utf8CodeUnitCount else { return false }
        let w = lower.utf8Start
        for k in 0..<b.count {
            let c = b[k]
            if (c >= 0x41 && c <= 0x5A ? c + 0x20 : c) != w[k] { return false }
        }
        return true
    }
}

/// `System.Net.WebUtility.UrlDecode`: `+` is a space, `%HH` (two hex digits) is a byte, every
/// other character stays; the bytes are read as UTF-8 with U+FFFD for invalid sequences.
enum WebUtilityDecoding {
    static func urlDecoded(_ b: UnsafeBufferPointer<UInt8>) -> String {
        guard b.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else {
            return String(decoding: b, as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "+") {
                out.append(0x20)
            } else if c == UInt8(ascii: "%"), i + 2 < b.count, let h = hexValue(b[i + 1]), let l = hexValue(b[i + 2]) {
                out.append(h << 4 | l)
                i += 2
            } else {
                out.append(c)
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The value of an ASCII hex digit.
func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: c - 0x30
    case 0x41...0x46: c - 0x41 + 10
    case 0x61...0x66: c - 0x61 + 10
    default: nil
    }
}
