internal import Glibc

/// A request's header fields in the order received, kept as bytes in one buffer; a field
/// becomes a `String` only when a route asks for it.
///
/// Why bytes: a `POST /leader` reads two of its headers (Authorization, X-Request-Id) but
/// turning every name and value into a `String` and filling a dictionary cost 10,690
/// instructions per request (callgrind, issue 17); one buffer and one array of offsets
/// are two allocations whatever the number of fields. Repeated fields stay, one entry per
/// line, as libmicrohttpd delivers them (Jellyfin's token rules read repeated headers).
public struct HeaderFields: Sendable {
    /// Each field's name then its value, back to back.
    private var bytes: [UInt8] = []
    /// Per field, two offsets into `bytes`: where its name ends, where its value ends.
    private var ends: [Int] = []

    public init() {
        bytes.reserveCapacity(512)
        ends.reserveCapacity(24)
    }

    /// Fields as given, names as given (for requests built in code).
    public init(_ fields: [(String, String)]) {
        self.init()
        for (name, value) in fields {
            bytes.append(contentsOf: name.utf8)
            ends.append(bytes.count)
            bytes.append(contentsOf: value.utf8)
            ends.append(bytes.count)
        }
    }

    /// How many fields (repeats counted).
    public var count: Int { ends.count / 2 }

    /// Appends a received field: its name lowercased (ASCII in one pass; a name with other
    /// bytes as `String.lowercased()` gives it), its value as given.
    mutating func appendReceived(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        if name.count + value.count <= 256, let n = name.baseAddress {
            // A usual field: lowercased name and value formed on the stack and appended at
            // once (each `Array.append` pays its checks: about 200 instructions per field,
            // five fields per `POST /leader`; callgrind, issue 17).
            let appended: Bool = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { chunk in
                let p = chunk.baseAddress!
                var high: UInt8 = 0
                for i in 0..<name.count {
                    let b = n[i]
                    high |= b
                    p[i] = b &- 0x41 < 26 ? b | 0x20 : b
                }
                guard high < 0x80 else { return false }  // not ASCII: lowercased below
                if let v = value.baseAddress, value.count > 0 { (p + name.count).update(from: v, count: value.count) }
                bytes.append(contentsOf: UnsafeBufferPointer(start: p, count: name.count + value.count))
                return true
            }
            if appended {
                ends.append(bytes.count - value.count)
                ends.append(bytes.count)
                return
            }
        }
        if name.allSatisfy({ $0 < 0x80 }) {
            // Copied at once, then lowercased in place: appending byte by byte paid the
            // array's capacity check per byte (issue 17).
            let from = bytes.count
            bytes.append(contentsOf: name)
            bytes.withUnsafeMutableBufferPointer { b in
                for i in from..<b.count where b[i] >= 0x41 && b[i] <= 0x5A { b[i] += 0x20 }
            }
        } else {
            bytes.append(contentsOf: String(decoding: name, as: UTF8.self).lowercased().utf8)
        }
        ends.append(bytes.count)
        bytes.append(contentsOf: value)
        ends.append(bytes.count)
    }

    /// The value of the first field named exactly `name`.
    public func first(_ name: String) -> String? {
        var result: String?
        forEach(named: name) { value in
            result = String(decoding: value, as: UTF8.self)
            return false
        }
        return result
    }

    /// Every value of the fields named exactly `name`, in order.
    public func values(_ name: String) -> [String] {
        var result: [String] = []
        forEach(named: name) { value in
            result.append(String(decoding: value, as: UTF8.self))
            return true
        }
        return result
    }

    /// Every field as (name, value), in order.
    public var all: [(String, String)] {
        var result: [(String, String)] = []
        result.reserveCapacity(count)
        bytes.withUnsafeBufferPointer { b in
            var from = 0
            for i in stride(from: 0, to: ends.count, by: 2) {
                let nameEnd = ends[i], valueEnd = ends[i + 1]
                result.append((String(decoding: UnsafeBufferPointer(rebasing: b[from..<nameEnd]), as: UTF8.self),
                               String(decoding: UnsafeBufferPointer(rebasing: b[nameEnd..<valueEnd]), as: UTF8.self)))
                from = valueEnd
            }
        }
        return result
    }

    /// Calls `body` with the value of each field named exactly `name` until it returns false.
    /// Not generic on purpose: called across modules, a generic result cost ~1,100
    /// instructions of Optional metadata per look-up (callgrind, issue 17).
    public func forEach(named name: String, _ body: (UnsafeBufferPointer<UInt8>) -> Bool) {
        var name = name
        name.withUTF8 { wanted in
            bytes.withUnsafeBufferPointer { b in
                var from = 0
                for i in stride(from: 0, to: ends.count, by: 2) {
                    let nameEnd = ends[i], valueEnd = ends[i + 1]
                    defer { from = valueEnd }
                    guard nameEnd - from == wanted.count,
                          wanted.count == 0 || memcmp(b.baseAddress! + from, wanted.baseAddress!, wanted.count) == 0 else { continue }
                    if !body(UnsafeBufferPointer(rebasing: b[nameEnd..<valueEnd])) { return }
                }
            }
        }
    }
}
