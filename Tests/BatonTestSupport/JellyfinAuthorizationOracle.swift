/// A test oracle: which token Jellyfin reads from a request, ported line by line from
/// Jellyfin's C# and the ASP.NET Core / .NET code it calls, NOT from Baton's extractor.
/// Strings are modelled as .NET strings (UTF-16 code units) so index, trim and case rules
/// are .NET's.
///
/// Sources (read from the fetched trees):
/// - Jellyfin.Server.Implementations/Security/AuthorizationContext.cs at v10.10.7 (10.9/10.10:
///   X-Emby-Authorization first, every legacy form) and v10.11.11 (= v12.0-rc5 but for a
///   space): GetAuthorizationDictionary, GetAuthorization, GetParts,
///   GetAuthorizationInfoFromDictionary.
/// - MediaBrowser.Model/Configuration/ServerConfiguration.cs: EnableLegacyAuthorization
///   (10.11.11 default true, 12.0-rc5 default false).
/// - dotnet/aspnetcore src/Shared/QueryStringEnumerable.cs at da0b4461 (query parsing, Decode),
///   Microsoft.Extensions.Primitives StringValues (implicit string: null, the value, or all
///   values joined with ','), KvpAccumulator (StringComparer.OrdinalIgnoreCase).
/// - dotnet/runtime System.Private.Uri/src/System/UriHelper.cs UnescapeString with
///   UnescapeMode.Unescape | UnescapeAll (Uri.UnescapeDataString) and MatchUTF8Sequence.
/// - dotnet/runtime System.Net.WebUtility.UrlDecode (UrlDecoder: ASCII as bytes, other chars
///   as chars, bytes read as UTF-8 with replacement).
/// - dotnet/runtime OrdinalCasing (s_basicLatin; pal_casing.c keeps U+0131 and U+017F).
public enum JellyfinAuthorizationOracle {
    public enum Version: Sendable, CustomStringConvertible {
        /// 10.9.x and 10.10.x (AuthorizationContext.cs v10.10.7): legacy always on.
        case v10_10
        /// 10.11.x and 12.0 (v10.11.11, v12.0-rc5) with EnableLegacyAuthorization as given.
        case v10_11(legacy: Bool)

        public var description: String {
            switch self {
            case .v10_10: "10.10"
            case .v10_11(let legacy): legacy ? "10.11 legacy" : "10.11 no-legacy"
            }
        }
    }

    /// The request as Jellyfin's HttpRequest exposes it: headers (repeats kept, in order) and
    /// the raw query string (Request.QueryString, without or with its '?').
    public struct Request: Sendable {
        public var headers: [(String, String)]
        public var queryString: String
        public init(headers: [(String, String)], queryString: String) {
            self.headers = headers
            self.queryString = queryString
        }
    }

    /// `authInfo.Token` after GetAuthorizationInfoFromDictionary (nil for a C# null).
    public static func token(_ request: Request, _ version: Version) -> String? {
        tokens(request, [version])[0]
    }

    /// The same for several versions, reading the request's headers and query once.
    public static func tokens(_ request: Request, _ versions: [Version]) -> [String?] {
        let headers = HeaderDictionary(request.headers)
        let query = parseQuery(Array(request.queryString.utf16))
        return versions.map { version in
            let legacy: Bool
            switch version {
            case .v10_10: legacy = true
            case .v10_11(let l): legacy = l
            }
            let auth = getAuthorizationDictionary(headers, version)
            var token: NetString? = nil
            if let auth {
                token = auth.first(where: { $0.key == tokenKey })?.value
            }
            // `if (EnableLegacyAuthorization && string.IsNullOrEmpty(token)) token = headers["X-Emby-Token"];`
            if legacy && isNullOrEmpty(token) { token = headers["X-Emby-Token"].stringValue }
            if legacy && isNullOrEmpty(token) { token = headers["X-MediaBrowser-Token"].stringValue }
            if isNullOrEmpty(token) { token = query["ApiKey"].stringValue }
            if legacy && isNullOrEmpty(token) { token = query["api_key"].stringValue }
            return token.map { String(decoding: $0, as: UTF16.self) }
        }
    }

    // MARK: - .NET strings

    static let tokenKey = Array("Token".utf16), mediaBrowser = Array("MediaBrowser".utf16), emby = Array("Emby".utf16)

    typealias NetString = [UInt16]

    static func isNullOrEmpty(_ s: NetString?) -> Bool { s?.isEmpty ?? true }

    /// char.IsWhiteSpace: Latin-1 ' ', '\t'...'\r', U+00A0, U+0085; else UnicodeCategory
    /// SpaceSeparator, LineSeparator or ParagraphSeparator.
    static func isWhiteSpace(_ c: UInt16) -> Bool {
        if c < 0x100 { return c == 0x20 || (c >= 0x09 && c <= 0x0D) || c == 0xA0 || c == 0x85 }
        guard let scalar = Unicode.Scalar(UInt32(c)) else { return false }  // a surrogate: no
        switch scalar.properties.generalCategory {
        case .spaceSeparator, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    /// ReadOnlySpan<char>.Trim(): whitespace off both ends.
    static func trim(_ s: ArraySlice<UInt16>) -> NetString {
        var lo = s.startIndex, hi = s.endIndex
        while lo < hi && isWhiteSpace(s[lo]) { lo += 1 }
        while hi > lo && isWhiteSpace(s[hi - 1]) { hi -= 1 }
        return Array(s[lo..<hi])
    }

    /// ReadOnlySpan<char>.Trim(char): every leading and trailing `c`.
    static func trim(_ s: ArraySlice<UInt16>, _ c: UInt16) -> NetString {
        var lo = s.startIndex, hi = s.endIndex
        while lo < hi && s[lo] == c { lo += 1 }
        while hi > lo && s[hi - 1] == c { hi -= 1 }
        return Array(s[lo..<hi])
    }

    /// OrdinalCasing.ToUpper for one UTF-16 unit.
    static func toUpperOrdinal(_ c: UInt16) -> UInt16 {
        if c < 0x100 {
            if c >= 0x61 && c <= 0x7A { return c - 0x20 }
            if c >= 0xE0 && c <= 0xFE && c != 0xF7 { return c - 0x20 }
            if c == 0xFF { return 0x178 }
            if c == 0xB5 { return 0x39C }
            return c
        }
        if c == 0x131 || c == 0x17F { return c }  // pal_casing.c: no mapping onto ASCII I and S
        guard let scalar = Unicode.Scalar(UInt32(c)) else { return c }
        let upper = Array(scalar.properties.uppercaseMapping.utf16)
        return upper.count == 1 ? upper[0] : c  // simple mapping only
    }

    /// string.Equals(a, b, StringComparison.OrdinalIgnoreCase).
    static func equalsOrdinalIgnoreCase(_ a: NetString, _ b: NetString) -> Bool {
        guard a.count == b.count else { return false }
        for (x, y) in zip(a, b) where x != y && toUpperOrdinal(x) != toUpperOrdinal(y) { return false }
        return true
    }

    // MARK: - StringValues and headers

    struct StringValues {
        var values: [NetString]
        var count: Int { values.count }
        /// `implicit operator string?(StringValues)`: null, the single value, or string.Join(',', values).
        var stringValue: NetString? {
            switch values.count {
            case 0: return nil
            case 1: return values[0]
            default: return Array(values.joined(separator: [UInt16(0x2C)]))
            }
        }
    }

    /// IHeaderDictionary: names compare OrdinalIgnoreCase; each header line is one value.
    /// (Names are kept upper-cased by OrdinalCasing once, which is what the comparison does.)
    struct HeaderDictionary {
        let fields: [(NetString, NetString)]
        init(_ headers: [(String, String)]) { fields = headers.map { ($0.0.utf16.map(toUpperOrdinal), Array($0.1.utf16)) } }
        subscript(_ name: String) -> StringValues {
            let n = name.utf16.map(toUpperOrdinal)
            return StringValues(values: fields.compactMap { $0.0 == n ? $0.1 : nil })
        }
    }

    // MARK: - AuthorizationContext.cs

    static func getAuthorizationDictionary(_ headers: HeaderDictionary, _ version: Version) -> [(key: NetString, value: NetString)]? {
        var auth: StringValues
        let legacy: Bool
        switch version {
        case .v10_10:
            // v10.10.7: var auth = httpReq.Headers["X-Emby-Authorization"];
            //           if (string.IsNullOrEmpty(auth)) auth = httpReq.Headers[HeaderNames.Authorization];
            legacy = true
            auth = headers["X-Emby-Authorization"]
            if isNullOrEmpty(auth.stringValue) { auth = headers["Authorization"] }
        case .v10_11(let l):
            // v10.11.11: var auth = httpReq.Headers[HeaderNames.Authorization];
            //            if (EnableLegacyAuthorization && string.IsNullOrEmpty(auth)) auth = httpReq.Headers["X-Emby-Authorization"];
            legacy = l
            auth = headers["Authorization"]
            if legacy && isNullOrEmpty(auth.stringValue) { auth = headers["X-Emby-Authorization"] }
        }
        // return auth.Count > 0 ? GetAuthorization(auth[0]) : null;
        return auth.count > 0 ? getAuthorization(auth.values[0], legacy: legacy) : nil
    }

    static func getAuthorization(_ header: NetString, legacy: Bool) -> [(key: NetString, value: NetString)]? {
        // var firstSpace = authorizationHeader.IndexOf(' ');
        guard let firstSpace = header.firstIndex(of: 0x20) else { return nil }
        let name = Array(header[..<firstSpace])
        var validName = equalsOrdinalIgnoreCase(name, mediaBrowser)
        // v10.10.7 accepts Emby unconditionally; v10.11 only with EnableLegacyAuthorization.
        validName = validName || (legacy && equalsOrdinalIgnoreCase(name, emby))
        guard validName else { return nil }
        return getParts(header[(firstSpace + 1)...])
    }

    /// GetParts, verbatim in structure. The Dictionary<string,string> is an ordered list
    /// of unique keys here (`result[key] = v` replaces).
    static func getParts(_ s: ArraySlice<UInt16>) -> [(key: NetString, value: NetString)] {
        var result: [(key: NetString, value: NetString)] = []
        func set(_ key: NetString, _ value: NetString) {
            if let i = result.firstIndex(where: { $0.key == key }) { result[i].value = value } else { result.append((key, value)) }
        }
        let quote: UInt16 = 0x22, comma: UInt16 = 0x2C, equals: UInt16 = 0x3D
        var escaped = false
        var start = s.startIndex
        var key: NetString = []
        var i = s.startIndex
        while i < s.endIndex {
            let token = s[i]
            if token == quote || token == comma {
                // escaped = (!escaped) == (token == '"');
                escaped = (!escaped) == (token == quote)
                if token == comma && !escaped {
                    if start < i {
                        set(key, urlDecode(trim(s[start..<i], quote)))
                        key = []
                    }
                    start = i + 1
                }
            } else if !escaped && token == equals {
                key = trim(s[start..<i])
                start = i + 1
            }
            i += 1
        }
        if start < i {
            set(key, urlDecode(trim(s[start..<i], quote)))
        }
        return result
    }

    // MARK: - WebUtility.UrlDecode

    static func urlDecode(_ value: NetString) -> NetString {
        if value.isEmpty { return value }
        var chars: NetString = []
        var bytes: [UInt8] = []
        func flushBytes() {
            if !bytes.isEmpty {
                chars += Array(String(decoding: bytes, as: UTF8.self).utf16)  // Encoding.UTF8: U+FFFD per bad sequence
                bytes = []
            }
        }
        let count = value.count
        var pos = 0
        while pos < count {
            var ch = value[pos]
            if ch == 0x2B {
                ch = 0x20
            } else if ch == 0x25 && pos < count - 2 {
                let h1 = fromHexChar(value[pos + 1]), h2 = fromHexChar(value[pos + 2])
                if (h1 | h2) != 0xFF {
                    bytes.append(UInt8((h1 << 4) | h2))
                    pos += 3
                    continue
                }
            }
            if (ch & 0xFF80) == 0 {
                bytes.append(UInt8(ch))  // 7 bit have to go as bytes because of Unicode
            } else {
                flushBytes()
                chars.append(ch)
            }
            pos += 1
        }
        flushBytes()
        return chars
    }

    /// HexConverter.FromChar: 0xFF for a non-hex char.
    static func fromHexChar(_ c: UInt16) -> Int {
        switch c {
        case 0x30...0x39: Int(c - 0x30)
        case 0x41...0x46: Int(c - 0x41 + 10)
        case 0x61...0x66: Int(c - 0x61 + 10)
        default: 0xFF
        }
    }

    // MARK: - ASP.NET query

    struct QueryCollection {
        var entries: [(NetString, [NetString])] = []
        /// KvpAccumulator: StringComparer.OrdinalIgnoreCase keys, values appended.
        mutating func append(_ name: NetString, _ value: NetString) {
            if let i = entries.firstIndex(where: { equalsOrdinalIgnoreCase($0.0, name) }) {
                entries[i].1.append(value)
            } else {
                entries.append((name, [value]))
            }
        }
        subscript(_ name: String) -> StringValues {
            let n = Array(name.utf16)
            return StringValues(values: entries.first { equalsOrdinalIgnoreCase($0.0, n) }?.1 ?? [])
        }
    }

    /// QueryFeature.ParseNullableQueryInternal over QueryStringEnumerable (dotnet/aspnetcore
    /// src/Shared/QueryStringEnumerable.cs at da0b4461, the .NET 8/9 form: Enumerator.MoveNext).
    static func parseQuery(_ q: NetString) -> QueryCollection {
        var result = QueryCollection()
        if q.isEmpty || (q.count == 1 && q[0] == 0x3F) { return result }
        // _query = query.IsEmpty || query.Span[0] != '?' ? query : query.Slice(1);
        var query = q[0] == 0x3F ? q[1...] : q[...]
        while !query.isEmpty {
            let segment: ArraySlice<UInt16>
            if let delimiterIndex = query.firstIndex(of: 0x26) {
                segment = query[query.startIndex..<delimiterIndex]
                query = query[(delimiterIndex + 1)...]
            } else {
                segment = query
                query = []
            }
            if let equalIndex = segment.firstIndex(of: 0x3D) {
                result.append(decode(segment[segment.startIndex..<equalIndex]), decode(segment[(equalIndex + 1)...]))
            } else if !segment.isEmpty {
                result.append(decode(segment), [])
            }
        }
        return result
    }

    /// EncodedNameValuePair.Decode: without '%' or '+' as is, else '+' replaced by ' ' and
    /// Uri.TryUnescapeDataString.
    static func decode(_ s: ArraySlice<UInt16>) -> NetString {
        if !s.contains(0x25) && !s.contains(0x2B) { return Array(s) }
        return unescapeDataString(s.map { $0 == 0x2B ? 0x20 : $0 })
    }

    /// UriHelper.UnescapeString with UnescapeMode.Unescape | UnescapeMode.UnescapeAll, no
    /// reserved characters, no IRI parsing.
    static func unescapeDataString(_ p: NetString) -> NetString {
        var dest: NetString = []
        let end = p.count
        var next = 0
        while next < end {
            let c = p[next]
            guard c == 0x25, next + 2 < end else {
                dest.append(c)  // not '%', or a '%' without two more chars: "keep a '%' as part of a bogus sequence"
                next += 1
                continue
            }
            let a = fromHexChar(p[next + 1]), b = fromHexChar(p[next + 2])
            if (a | b) == 0xFF {  // DecodeHexChars gives c_DummyChar: keep the '%'
                dest.append(c)
                next += 1
                continue
            }
            let ch = (a << 4) | b
            if ch <= 0x7F {
                dest.append(UInt16(ch))
                next += 3
                continue
            }
            var bytes: [UInt8] = [UInt8(ch)]
            next += 3
            while next < end {
                if p[next] != 0x25 || next + 2 >= end { break }
                let x = fromHexChar(p[next + 1]), y = fromHexChar(p[next + 2])
                if (x | y) == 0xFF { break }
                let v = (x << 4) | y
                if v < 0x80 { break }
                bytes.append(UInt8(v))
                next += 3
            }
            matchUTF8Sequence(&dest, noFallbackDecode(bytes), bytes)
        }
        return dest
    }

    /// s_noFallbackCharUTF8.GetChars: invalid bytes produce no chars.
    static func noFallbackDecode(_ bytes: [UInt8]) -> NetString {
        var out: NetString = []
        var it = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        while true {
            switch parser.parseScalar(from: &it) {
            case .valid(let enc): out += Array(String(Unicode.UTF8.decode(enc)).utf16)
            case .error: continue
            case .emptyInput: return out
            }
        }
    }

    /// MatchUTF8Sequence (iriParsing false): re-encode each char and match it against the
    /// bytes; bytes that match no char are written escaped (%XX, upper case).
    static func matchUTF8Sequence(_ dest: inout NetString, _ unescapedChars: NetString, _ bytes: [UInt8]) {
        var count = 0
        var j = 0
        while j < unescapedChars.count {
            let isHighSurr = (0xD800...0xDBFF).contains(unescapedChars[j])
            let unit = Array(unescapedChars[j..<(j + (isHighSurr ? 2 : 1))])
            let encodedBytes = Array(String(decoding: unit, as: UTF16.self).utf8)
            while true {
                while bytes[count] != encodedBytes[0] {
                    escapeAsciiChar(bytes[count], &dest)
                    count += 1
                }
                var allBytesMatch = true
                var k = 0
                while k < encodedBytes.count {
                    if count + k >= bytes.count || bytes[count + k] != encodedBytes[k] {
                        allBytesMatch = false
                        break
                    }
                    k += 1
                }
                if allBytesMatch {
                    count += encodedBytes.count
                    dest += unit
                    break
                } else {
                    for _ in 0..<k {
                        escapeAsciiChar(bytes[count], &dest)
                        count += 1
                    }
                }
            }
            if isHighSurr { j += 1 }
            j += 1
        }
        while count < bytes.count {
            escapeAsciiChar(bytes[count], &dest)
            count += 1
        }
    }

    static func escapeAsciiChar(_ b: UInt8, _ to: inout NetString) {
        let hex = Array("0123456789ABCDEF".utf16)
        to.append(0x25)
        to.append(hex[Int(b >> 4)])
        to.append(hex[Int(b & 0xF)])
    }
}
