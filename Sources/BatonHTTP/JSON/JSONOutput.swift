import BatonSupport

/// JSON text written through a pointer into a buffer sized up front, for the fixed-shape
/// answers of the hot path (a lease, a token's owner).
///
/// Why not `[UInt8].append`: each append pays a uniqueness and a capacity check and a call;
/// a `POST /leader` answer is about twenty of them, about 100 instructions each (callgrind,
/// issue 17). Here a write is a bounds check and a copy. Every write checks that it stays
/// within the capacity, so a wrong size estimate stops the process rather than writing past
/// the buffer.
public struct JSONOutput: ~Copyable {
    private let base: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    /// Bytes written so far.
    public private(set) var count = 0

    /// Room a string may take once quoted and escaped: 6 bytes per byte (`\u0001`) and 2 quotes.
    public static func room(for s: String) -> Int { 6 * s.utf8.count + 2 }

    /// Room an integer takes at most: 20 bytes (`-9223372036854775808`).
    public static let intRoom = 20

    /// Room an RFC 3339 timestamp takes at most, quoted.
    public static let timestampRoom = Timestamp.maxLength + 2

    /// The bytes `write` writes, in a buffer of `capacity` bytes.
    public static func bytes(capacity: Int, _ write: (inout JSONOutput) -> Void) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
            var output = JSONOutput(base: buffer.baseAddress!, capacity: capacity)
            write(&output)
            initialized = output.count
        }
    }

    private init(base: UnsafeMutablePointer<UInt8>, capacity: Int) {
        self.base = base
        self.capacity = capacity
    }

    @inline(__always)
    private mutating func reserve(_ n: Int) -> UnsafeMutablePointer<UInt8> {
        precondition(count + n <= capacity, "JSONOutput: the answer outgrew its \(capacity) bytes")
        return base + count
    }

    /// A literal's bytes (valid JSON text where it goes).
    public mutating func literal(_ s: StaticString) {
        let n = s.utf8CodeUnitCount
        reserve(n).update(from: s.utf8Start, count: n)
        count += n
    }

    /// `v` in decimal.
    public mutating func int(_ v: Int64) {
        let p = reserve(Self.intRoom)
        // Formed on the stack (digits come last first), then copied.
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let n = withUnsafeMutableBytes(of: &digits) { raw in
            let end = raw.baseAddress!.assumingMemoryBound(to: UInt8.self) + 24
            let n = DecimalDigits.write(v, endingAt: end)
            p.update(from: end - n, count: n)
            return n
        }
        count += n
    }

    /// `v` in decimal, or `null`.
    public mutating func int(_ v: Int64?) {
        if let v { int(v) } else { literal("null") }
    }

    /// `ms` as a quoted RFC 3339 timestamp (`"2026-12-07T03:17:19.000Z"`).
    public mutating func timestamp(ms: Int64) {
        let p = reserve(Self.timestampRoom)
        p[0] = 0x22
        let n = Timestamp.write(ms: ms, to: p + 1)
        p[n + 1] = 0x22
        count += n + 2
    }

    /// `s` quoted and escaped, as ``JSONValue/writeString(_:into:)`` writes it.
    public mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { bytes in
            let p = reserve(6 * bytes.count + 2)
            var w = 0
            p[w] = 0x22
            w += 1
            for b in bytes {
                if b >= 0x20 && b != 0x22 && b != 0x5C && b != 0x7F {
                    p[w] = b
                    w += 1
                    continue
                }
                p[w] = 0x5C
                switch b {
                case 0x22: p[w + 1] = 0x22; w += 2
                case 0x5C: p[w + 1] = 0x5C; w += 2
                case 0x0A: p[w + 1] = UInt8(ascii: "n"); w += 2
                case 0x0D: p[w + 1] = UInt8(ascii: "r"); w += 2
                case 0x09: p[w + 1] = UInt8(ascii: "t"); w += 2
                default:
                    let hex: StaticString = "0123456789abcdef"
                    p[w + 1] = UInt8(ascii: "u")
                    p[w + 2] = 0x30
                    p[w + 3] = 0x30
                    p[w + 4] = hex.utf8Start[Int(b >> 4)]
                    p[w + 5] = hex.utf8Start[Int(b & 0xF)]
                    w += 6
                }
            }
            p[w] = 0x22
            count += w + 1
        }
    }

    /// `s` quoted and escaped, or `null`.
    public mutating func string(_ s: String?) {
        if let s { string(s) } else { literal("null") }
    }
}
