/// Percent-decoding for URL parts. With `plusIsSpace` it is form decoding
/// (`application/x-www-form-urlencoded`, as .NET's WebUtility.UrlDecode that Jellyfin uses).
/// Invalid escapes are kept as they are; invalid UTF-8 becomes U+FFFD.
public func percentDecoded(_ s: some StringProtocol, plusIsSpace: Bool = false) -> String {
    var out: [UInt8] = []
    var bytes = Array(s.utf8)[...]
    while let b = bytes.popFirst() {
        if plusIsSpace && b == UInt8(ascii: "+") {
            out.append(0x20)
        } else if b == UInt8(ascii: "%"), bytes.count >= 2,
                  let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
            out.append(v)
            bytes = bytes.dropFirst(2)
        } else {
            out.append(b)
        }
    }
    return String(decoding: out, as: UTF8.self)
}
