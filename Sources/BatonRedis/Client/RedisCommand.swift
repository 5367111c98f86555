import BatonSupport

/// A Redis command's arguments packed into one byte buffer: one allocation for the bytes
/// and one for where each argument ends, however many arguments (the scripts take about
/// ten on every request).
public struct RedisCommand: Sendable {
    private(set) var bytes: [UInt8] = []
    private(set) var ends: [Int] = []

    public init(capacity: Int = 256, arguments: Int = 16) {
        bytes.reserveCapacity(capacity)
        ends.reserveCapacity(arguments)
    }

    /// A command from its words, for the commands off the hot path.
    public init(_ words: [String]) {
        self.init()
        for w in words { append(w) }
    }

    /// How many arguments (the command's name included).
    public var count: Int { ends.count }

    public mutating func append(_ s: String) {
        bytes.append(contentsOf: s.utf8)
        ends.append(bytes.count)
    }

    /// Appends `v` in decimal. `String(v)` of a 64-bit integer is a small string (no heap)
    /// and is copied in at once; appending the digits one by one and reversing the slice in
    /// place cost about 800 instructions per integer, four per `POST /leader` (callgrind,
    /// issue 17).
    public mutating func append(_ v: Int64) {
        DecimalDigits.append(v, to: &bytes)
        ends.append(bytes.count)
    }

    public mutating func append(_ v: Int) { append(Int64(v)) }

    /// Appends raw bytes as one argument: any byte is data (CR, LF, NUL included).
    public mutating func append<Bytes: Sequence<UInt8>>(bytes: Bytes) {
        bytes.forEach { self.bytes.append($0) }
        ends.append(self.bytes.count)
    }

    /// Calls `body` with C `argv`/`argvlen` arrays pointing into the buffer (valid only
    /// inside `body`). The pointer arrays live on the stack when they are small. Commands
    /// are sent framed by ``RESPWriter``; this is what the tests hand hiredis' own formatter
    /// to check that framing against.
    func withArgv<R>(_ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
        bytes.withUnsafeBufferPointer { base in
            // An empty buffer may have no base address; any non-null pointer will do for
            // arguments of length 0.
            let start = base.baseAddress.map { UnsafeRawPointer($0) } ?? UnsafeRawPointer(bitPattern: 1)!
            return withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: max(1, ends.count)) { argv in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: max(1, ends.count)) { lengths in
                    var from = 0
                    for (i, end) in ends.enumerated() {
                        argv[i] = (start + from).assumingMemoryBound(to: CChar.self)
                        lengths[i] = end - from
                        from = end
                    }
                    return body(argv.baseAddress!, UnsafePointer(lengths.baseAddress!))
                }
            }
        }
    }
}
