/// The query parameters Jellyfin reads a token from, as ASP.NET Core reads a query string
/// (QueryFeature with QueryStringEnumerable, dotnet/aspnetcore src/Shared/QueryStringEnumerable.cs
/// in its .NET 8/9 form;
/// Uri.UnescapeDataString, dotnet/runtime System.Private.Uri UriHelper.cs):
/// - split at each `&`; a segment splits at its first `=`; a segment without `=` is a name with
///   an empty value; empty segments are skipped;
/// - name and value: `+` becomes a space, then every `%HH` is decoded; decoded bytes of
///   128 and above that are not valid UTF-8 stay escaped (as `%HH`, upper-case hex);
/// - names compare without case (OrdinalIgnoreCase: for these names, ASCII case);
/// - a name given several times yields its values joined with `,`.
enum AspNetQuery {
    struct APIKeys {
        /// `ApiKey` (any case), or nil when absent.
        var apiKey: String?
        /// `api_key` (any case), or nil when absent.
        var legacyApiKey: String?
    }

    static func apiKeys(in query: Substring) -> APIKeys {
        var result = APIKeys()
        guard !query.isEmpty else { return result }
        var q = String(query)
        q.withUTF8 { b in
            var i = b.first == UInt8(ascii: "?") ? 1 : 0
            while i < b.count {
                var end = i
                while end < b.count && b[end] != UInt8(ascii: "&") { end += 1 }
                if end > i {
                    var eq = i
                    while eq < end && b[eq] != UInt8(ascii: "=") { eq += 1 }
                    let name = unescaped(UnsafeBufferPointer(rebasing: b[i..<eq]))
                    if let key = Key(name) {
                        let value = eq < end ? unescaped(UnsafeBufferPointer(rebasing: b[(eq + 1)..<end])) : ""
                        switch key {
                        case .apiKey: result.apiKey = result.apiKey.map { $0 + "," + value } ?? value
                        case .legacyApiKey: result.legacyApiKey = result.legacyApiKey.map { $0 + "," + value } ?? value
                        }
                    }
                }
                i = end + 1
            }
        }
        return result
    }

    /// The two names Jellyfin reads, compared without ASCII case (.NET's ordinal casing maps
    /// no other character onto these letters: it keeps U+0131 and U+017F apart).
    private enum Key {
        case apiKey, legacyApiKey

        init?(_ name: String) {
            let u = name.utf8
            guard u.count == 6 || u.count == 7 else { return nil }
            switch String(decoding: u.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self) {
            case "apikey": self = .apiKey
            case "api_key": self = .legacyApiKey
            default: return nil
            }
        }
    }

    private static func appendEscaped(_ byte: UInt8, to out: inout [UInt8]) {
        let digits = Array("0123456789ABCDEF".utf8)
        out.append(UInt8(ascii: "%"))
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }

    /// `Uri.UnescapeDataString(ReplacePlusWithSpace(s))`.
    static func unescaped(_ b: UnsafeBufferPointer<UInt8>) -> String {
        guard b.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else {
            return String(decoding: b, as: UTF8.self)
        }
        func escapedByte(at i: Int) -> UInt8? {
            guard b[i] == UInt8(ascii: "%"), i + 2 < b.count, let h = hexValue(b[i + 1]), let l = hexValue(b[i + 2]) else { return nil }
            return h << 4 | l
        }
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            guard let v = escapedByte(at: i) else {
                out.append(b[i] == UInt8(ascii: "+") ? 0x20 : b[i])
                i += 1
                continue
            }
            i += 3
            if v < 0x80 {
                out.append(v)
                continue
            }
            // A run of escaped bytes >= 0x80: valid UTF-8 is decoded, the rest stays escaped.
            var run: [UInt8] = [v]
            while i < b.count, let w = escapedByte(at: i), w >= 0x80 {
                run.append(w)
                i += 3
            }
            var it = run.makeIterator()
            var parser = Unicode.UTF8.ForwardParser()
            var offset = 0
            decoding: while true {
                switch parser.parseScalar(from: &it) {
                case .valid(let enc):
                    out.append(contentsOf: enc)
                    offset += enc.count
                case .error(let length):
                    for byte in run[offset..<(offset + length)] { appendEscaped(byte, to: &out) }
                    offset += length
                case .emptyInput:
                    break decoding
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
