import BatonCore
import BatonHTTP
import BatonSupport

extension LeaseView {
    /// The same bytes as `json.encoded()` (``fields``), written straight into one buffer:
    /// the answer of every `POST /leader`, where building the `[(String, JSONValue)]`, the
    /// timestamp `String` and encoding them cost about 8,500 instructions (callgrind,
    /// issue 17). `LeaseJSONTests` checks both forms agree, so ``fields`` stays the
    /// definition of the shape.
    var encodedJSON: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(320)
        JSONValue.append(#"{"lease":"#, to: &out)
        JSONValue.writeString(lease.value, into: &out)
        JSONValue.append(#","holder":"#, to: &out)
        if let holder { JSONValue.writeString(holder.value, into: &out) } else { JSONValue.append("null", to: &out) }
        JSONValue.append(leader ? #","leader":true"# : #","leader":false"#, to: &out)
        JSONValue.append(acquired ? #","acquired":true"# : #","acquired":false"#, to: &out)
        JSONValue.append(#","fencing_token":"#, to: &out)
        Self.write(fencingToken?.value, &out)
        JSONValue.append(#","ttl_ms":"#, to: &out)
        Self.write(ttlMs.map(Int64.init), &out)
        JSONValue.append(#","expires_in_ms":"#, to: &out)
        Self.write(expiresInMs.map(Int64.init), &out)
        JSONValue.append(#","acquired_at":"#, to: &out)
        if let acquiredAtMs {
            // RFC 3339 is digits, '-', ':', '.', 'T', 'Z': nothing to escape.
            out.append(0x22)
            Timestamp.append(ms: acquiredAtMs, to: &out)
            out.append(0x22)
        } else {
            JSONValue.append("null", to: &out)
        }
        JSONValue.append(#","mode":"#, to: &out)
        JSONValue.writeString(mode.rawValue, into: &out)
        JSONValue.append(#","reason":"#, to: &out)
        if let reason { JSONValue.writeString(reason.rawValue, into: &out) } else { JSONValue.append("null", to: &out) }
        out.append(UInt8(ascii: "}"))
        return out
    }

    private static func write(_ v: Int64?, _ out: inout [UInt8]) {
        if let v { JSONValue.writeInt(v, into: &out) } else { JSONValue.append("null", to: &out) }
    }
}
