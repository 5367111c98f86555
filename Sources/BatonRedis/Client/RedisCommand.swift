/// A Redis command's arguments packed into one byte buffer: one allocation for the bytes
/// and one for where each argument ends, however many arguments (the scripts take about
/// ten on every request).
public struct RedisCommand: Sendable {
    private(set) var bytes: [UInt8] = []
    private(set) var ends: [Int] = []

    public init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
        ends.reserveCapacity(16)
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

    /// Appends `v` in decimal, without going through a String.
    public mutating func append(_ v: Int64) {
        if v == 0 {
            bytes.append(UInt8(ascii: "0"))
        } else {
            if v < 0 { bytes.append(UInt8(ascii: "-")) }
            let start = bytes.count
            var m = v.magnitude
            while m > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(m % 10))
                m /= 10
            }
            bytes[start...].reverse()
        }
        ends.append(bytes.count)
    }

    public mutating func append(_ v: Int) { append(Int64(v)) }

    /// Calls `body` with C `argv`/`argvlen` arrays pointing into the buffer (valid only
    /// inside `body`). The pointer arrays live on the stack when they are small.
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
