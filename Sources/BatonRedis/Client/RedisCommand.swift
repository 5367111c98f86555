import BatonSupport

/// A Redis command's arguments, framed as RESP as they are appended: one buffer holds
/// `$<length>\r\n<bytes>\r\n` per argument, so sending it is one copy behind the
/// `*<count>\r\n` header (``RESPWriter``), however many arguments (the scripts take about
/// ten on every request).
///
/// Why framed on append: building the arguments and framing them afterwards cost two
/// buffers and a second pass over every argument, with a division per length digit; about
/// 2,000 instructions of a `POST /leader` (callgrind, issue 17).
public struct RedisCommand: Sendable {
    /// The arguments as RESP bulk strings, in order.
    private(set) var framed: [UInt8] = []
    /// How many arguments (the command's name included).
    public private(set) var count = 0

    /// - Parameter capacity: bytes to reserve for the framed arguments.
    public init(capacity: Int = 256) {
        framed.reserveCapacity(capacity)
    }

    /// A command from its words, for the commands off the hot path.
    public init(_ words: [String]) {
        self.init()
        for w in words { append(w) }
    }

    public mutating func append(_ s: String) {
        var s = s
        s.withUTF8 { append(Self.empty, $0, Self.empty) }
    }

    /// Appends `v` in decimal. Integer arguments need no `String` (four per `POST /leader`).
    public mutating func append(_ v: Int64) {
        // `$<length>\r\n<digits>\r\n` formed on the stack and appended at once.
        var chunk: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &chunk) { raw in
            let p = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let n = DecimalDigits.write(v, endingAt: p + 26)  // at most 20 bytes: p[6..<26]
            let start = 26 - n - (n < 10 ? 4 : 5)
            p[start] = UInt8(ascii: "$")
            if n < 10 {
                p[start + 1] = UInt8(truncatingIfNeeded: n) &+ 0x30
            } else {
                p[start + 1] = UInt8(truncatingIfNeeded: n / 10) &+ 0x30
                p[start + 2] = UInt8(truncatingIfNeeded: n % 10) &+ 0x30
            }
            p[26 - n - 2] = 0x0D
            p[26 - n - 1] = 0x0A
            p[26] = 0x0D
            p[27] = 0x0A
            framed.append(contentsOf: UnsafeBufferPointer(start: p + start, count: 28 - start))
        }
        count += 1
    }

    public mutating func append(_ v: Int) { append(Int64(v)) }

    /// Appends raw bytes as one argument: any byte is data (CR, LF, NUL included).
    public mutating func append<Bytes: Sequence<UInt8>>(bytes: Bytes) {
        let b = Array(bytes)
        b.withUnsafeBufferPointer { append(Self.empty, $0, Self.empty) }
    }

    /// Appends `name` with `prefix` before it and `suffix` after it as one argument:
    /// a key such as `baton:lease:{name}` without making its `String` first.
    mutating func append(_ prefix: StaticString, _ name: String, _ suffix: StaticString) {
        var name = name
        name.withUTF8 { n in
            append(UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount), n,
                   UnsafeBufferPointer(start: suffix.utf8Start, count: suffix.utf8CodeUnitCount))
        }
    }

    private static var empty: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: nil, count: 0) }

    /// One argument made of three pieces, framed: `$<length>\r\n<a><b><c>\r\n`. A short one
    /// (every argument of the hot path but the script's SHA-1) is formed on the stack and
    /// appended at once: each `Array.append` costs its checks (callgrind, issue 17: framing
    /// piece by piece cost about 250 instructions per argument).
    private mutating func append(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>, _ c: UnsafeBufferPointer<UInt8>) {
        let length = a.count + b.count + c.count
        // `$`, at most 20 digits, CR LF.
        var header: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &header) { raw in
            let h = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let digits = DecimalDigits.write(Int64(length), endingAt: h + 22)
            h[21 - digits] = UInt8(ascii: "$")
            h[22] = 0x0D
            h[23] = 0x0A
            let head = UnsafeBufferPointer(start: h + 21 - digits, count: digits + 3)
            if length <= 96 {
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { chunk in
                    let p = chunk.baseAddress!
                    var w = 0
                    func copy(_ piece: UnsafeBufferPointer<UInt8>) {
                        guard let from = piece.baseAddress, piece.count > 0 else { return }
                        (p + w).update(from: from, count: piece.count)
                        w += piece.count
                    }
                    copy(head)
                    copy(a)
                    copy(b)
                    copy(c)
                    p[w] = 0x0D
                    p[w + 1] = 0x0A
                    framed.append(contentsOf: UnsafeBufferPointer(start: p, count: w + 2))
                }
            } else {
                framed.append(contentsOf: head)
                framed.append(contentsOf: a)
                framed.append(contentsOf: b)
                framed.append(contentsOf: c)
                framed.append(0x0D)
                framed.append(0x0A)
            }
        }
        count += 1
    }

    /// Calls `body` with C `argv`/`argvlen` arrays pointing into the buffer (valid only
    /// inside `body`), for hiredis' own argv functions (the change feed's SUBSCRIBE, and the
    /// tests that check ``RESPWriter``'s framing against hiredis' formatter).
    func withArgv<R>(_ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
        framed.withUnsafeBufferPointer { base in
            // An empty buffer may have no base address; any non-null pointer will do for
            // arguments of length 0.
            let start = base.baseAddress.map { UnsafeRawPointer($0) } ?? UnsafeRawPointer(bitPattern: 1)!
            return withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: max(1, count)) { argv in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: max(1, count)) { lengths in
                    // Each argument is `$<length>\r\n<bytes>\r\n`, as `header` wrote it.
                    var at = 0
                    for i in 0..<count {
                        at += 1
                        var n = 0
                        while base[at] != 0x0D {
                            n = n * 10 + Int(base[at] &- 0x30)
                            at += 1
                        }
                        at += 2
                        argv[i] = (start + at).assumingMemoryBound(to: CChar.self)
                        lengths[i] = n
                        at += n + 2
                    }
                    return body(argv.baseAddress!, UnsafePointer(lengths.baseAddress!))
                }
            }
        }
    }
}
