/// Seeded random requests that carry a valid and a revoked Jellyfin token in many of the
/// places and spellings Jellyfin's AuthorizationContext reads (or pointedly does not read),
/// for the differential test of Baton's extractor against ``JellyfinAuthorizationOracle``.
public struct TokenRequestGenerator {
    /// One generated case.
    public struct Case: Sendable, CustomStringConvertible {
        /// Header fields as sent (names in the case sent; repeats kept).
        public var headers: [(String, String)]
        /// The query string of the request Jellyfin sees (no `?`).
        public var jellyfinQuery: String
        /// Where Baton finds that query: nil when the request to Baton carries it itself, else
        /// the header (X-Forwarded-Uri, X-Original-URL, X-Original-URI) of an ingress's auth request.
        public var forwardedBy: String?

        /// The headers of the request to Baton (the forwarded-URI header added when forwarded).
        public var batonHeaders: [(String, String)] {
            guard let name = forwardedBy else { return headers }
            let path = "/Videos/9f1c/stream.mkv"
            let q = jellyfinQuery.isEmpty ? "" : "?" + jellyfinQuery
            let uri = name.lowercased() == "x-original-url" ? "https://jellyfin.example" + path + q : path + q
            return headers + [(name, uri)]
        }

        /// The query string of the request to Baton itself.
        public var batonQuery: String { forwardedBy == nil ? jellyfinQuery : "" }

        public var oracleRequest: JellyfinAuthorizationOracle.Request {
            .init(headers: headers, queryString: jellyfinQuery)
        }

        public var description: String {
            "headers=\(batonHeaders.map { "\($0.0): \($0.1)" }) query=\(batonQuery.debugDescription) jellyfinQuery=\(jellyfinQuery.debugDescription)"
        }
    }

    public let valid: String
    public let revoked: String
    /// Only what can travel in a real HTTP/1.1 request: visible ASCII in the request target,
    /// no control characters or non-ASCII in header values, no leading or trailing blanks
    /// (servers strip those). Off: anything a String can hold, for the in-process test.
    public let wire: Bool
    private var rng: SplitMix64

    public init(seed: UInt64, valid: String, revoked: String, wire: Bool) {
        self.valid = valid
        self.revoked = revoked
        self.wire = wire
        rng = SplitMix64(seed: seed)
    }

    public mutating func next() -> Case {
        var headers: [(String, String)] = []
        // The authorization headers, each 0-2 times, in random order among the others.
        for name in ["Authorization", "X-Emby-Authorization"] {
            for _ in 0..<pick(Self.options0) { headers.append((spellName(name), authorizationValue())) }
        }
        for name in ["X-Emby-Token", "X-MediaBrowser-Token"] {
            for _ in 0..<pick(Self.options1) { headers.append((spellName(name), plainTokenValue())) }
        }
        if chance(0.1) { headers.append(("X-Forwarded-Method", "GET")) }
        shuffle(&headers)
        let query = queryString()
        let forwardedBy: String? = chance(0.5) || query.isEmpty && chance(0.5)
            ? pick(Self.options2) : nil
        if wire { headers = headers.map { ($0.0, trimBlanks($0.1)) } }
        return Case(headers: headers, jellyfinQuery: query, forwardedBy: forwardedBy)
    }

    // MARK: - pieces

    private mutating func token() -> String {
        let base = chance(0.5) ? valid : revoked
        switch rng.below(24) {
        case 0: return ""
        case 1: return base + "junk"
        case 2: return String(base.dropLast())
        case 3: return base.uppercased()
        case 4: return " " + base
        case 5: return wire ? base : base + "\u{0}junk"
        case 6: return wire ? base : "\u{00A0}" + base
        default: return base
        }
    }

    /// A token written into an authorization header value: quoted or not, percent-encoded
    /// in part, `+`, `%00`, quotes doubled, blanks around.
    private mutating func encodedToken() -> String {
        var t = token()
        switch rng.below(12) {
        case 0: t = percentEncodeSome(t)
        case 1: t = t + "%00x"
        case 2: t = t.isEmpty ? "+" : String(t.prefix(4)) + "+" + String(t.dropFirst(4))
        case 3: t = t + "%2"
        case 4: t = t + "%C3"
        default: break
        }
        switch rng.below(10) {
        case 0: return t
        case 1: return "\"\"" + t + "\"\""
        case 2: return "\"" + t + "\" "
        case 3: return " \"" + t + "\""
        case 4: return "\"" + t
        case 5: return "\"" + t + ",x\""
        case 6: return "\"" + t + "=x\""
        default: return "\"" + t + "\""
        }
    }

    private mutating func authorizationValue() -> String {
        let scheme = pick(Self.options3)
        let separator = pick(Self.options4)
        var parts: [String] = []
        for _ in 0..<pick(Self.options5) {
            var key = pick(Self.options6)
            if wire && !key.utf8.allSatisfy({ $0 < 0x80 }) { key = "Token" }
            switch rng.below(14) {
            case 0: parts.append("")  // an empty segment
            case 1: parts.append(encodedToken())  // a value without a key
            case 2: parts.append(key + "=" + encodedToken() + "=" + encodedToken())
            case 3: parts.append(key + " = " + encodedToken())
            case 4: parts.append(key + "=")
            default:
                let value = key.lowercased().contains("token") || chance(0.3) ? encodedToken() : pick(Self.options7)
                parts.append(key + "=" + value)
            }
        }
        let joiner = pick(Self.options8)
        if scheme.isEmpty { return parts.joined(separator: joiner) }
        return scheme + separator + parts.joined(separator: joiner)
    }

    private mutating func plainTokenValue() -> String {
        switch rng.below(8) {
        case 0: return ""
        case 1: return percentEncodeSome(token())
        case 2: return "\"" + token() + "\""
        default: return token()
        }
    }

    private mutating func queryString() -> String {
        var segments: [String] = []
        for _ in 0..<pick(Self.options9) {
            let key = pick(Self.options10)
            switch rng.below(10) {
            case 0: segments.append("")
            case 1: segments.append(key)
            case 2: segments.append(key + "=")
            default: segments.append(key + "=" + queryTokenValue())
            }
        }
        return segments.joined(separator: "&")
    }

    private mutating func queryTokenValue() -> String {
        let t = token()
        var v = ""
        for b in t.utf8 {
            // Characters that cannot stand in a request target are percent-encoded.
            if (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) {
                v.append(Character(Unicode.Scalar(b)))
            } else {
                v += "%" + hex2(b)
            }
        }
        switch rng.below(12) {
        case 0: return percentEncodeSome(v)
        case 1: return v + "%00junk"
        case 2: return v + "+x"
        case 3: return v + "%2"
        case 4: return v + "%c3%28"
        case 5: return v + "%E2%82%AC"
        case 6: return v + "%ED%A0%80"
        case 7:
            let u = Array(v.utf8)
            guard u.count > 4 else { return v }
            return String(decoding: u[..<3], as: UTF8.self) + "%" + hex2(u[3]) + String(decoding: u[4...], as: UTF8.self)
        default: return v
        }
    }

    // MARK: - helpers

    private static let options0 = [0, 0, 1, 1, 1, 2]
    private static let options1 = [0, 0, 0, 1, 1, 2]
    private static let options2 = ["X-Forwarded-Uri", "X-Original-URL", "X-Original-URI", "x-forwarded-uri"]
    private static let options3 = ["MediaBrowser", "MediaBrowser", "MediaBrowser", "mediabrowser", "MEDIABROWSER", "Emby", "emby",
                           "Bearer", "Basic", "MediaBrowserX", "", "Media Browser"]
    private static let options4 = [" ", " ", " ", "  ", "\t", " \t"]
    private static let options5 = [0, 1, 2, 2, 3, 4]
    private static let options6 = ["Token", "Token", "Token", "token", "TOKEN", " Token", "Token ", "Client", "Device", "DeviceId",
                            "Version", "", "To\"ken", "\u{00A0}Token"]
    private static let options7 = ["\"Jellyfin Web\"", "\"a, b\"", "x%20y", "\"10.11.0\""]
    private static let options8 = [", ", ",", " , ", ",  "]
    private static let options9 = [0, 1, 1, 2, 2, 3, 4]
    private static let options10 = ["ApiKey", "apikey", "APIKEY", "apiKey", "api_key", "API_KEY", "Api_Key", "api%5Fkey", "Api%4Bey",
                            "static", "api-key", "api_key%00", "apikey+", "%61pikey"]

    private mutating func percentEncodeSome(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            if b < 0x80, chance(0.15) { out += "%" + (chance(0.5) ? hex2(b) : hex2(b).lowercased()) } else { out += String(decoding: [b], as: UTF8.self) }
        }
        // Multi-byte characters were split byte by byte above only when ASCII: keep the rest whole.
        return s.utf8.allSatisfy({ $0 < 0x80 }) ? out : s
    }

    private func hex2(_ b: UInt8) -> String {
        let d = Array("0123456789ABCDEF")
        return String([d[Int(b >> 4)], d[Int(b & 15)]])
    }

    private mutating func spellName(_ name: String) -> String {
        switch rng.below(6) {
        case 0: return name.lowercased()
        case 1: return name.uppercased()
        default: return name
        }
    }

    private func trimBlanks(_ s: String) -> String {
        var u = Substring(s)
        while let f = u.first, f == " " || f == "\t" { u = u.dropFirst() }
        while let l = u.last, l == " " || l == "\t" { u = u.dropLast() }
        return String(u)
    }

    private mutating func chance(_ p: Double) -> Bool { Double(rng.below(1_000_000)) < p * 1_000_000 }

    private mutating func pick<T>(_ options: [T]) -> T { options[Int(rng.below(UInt64(options.count)))] }

    private mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, Int(rng.below(UInt64(i + 1)))) }
    }
}

/// SplitMix64: small, seeded, the same sequence everywhere.
public struct SplitMix64: Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func below(_ n: UInt64) -> UInt64 { next() % n }
}
