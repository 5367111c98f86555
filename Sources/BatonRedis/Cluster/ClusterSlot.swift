/// Redis Cluster's key-to-slot rule (cluster.c `keyHashSlot`, Redis 7.0): CRC16-XMODEM of
/// the key, or of its hash tag (the text between the first `{` and the next `}` when that
/// is not empty), modulo 16384. Every key of one lease or task shares the tag
/// `baton:lease:{name}`, so one script's keys are always in one slot.
public enum ClusterSlot {
    public static let count = 16384

    /// The slot of `key`.
    public static func of(_ key: String) -> Int {
        let bytes = Array(key.utf8)
        var part = bytes[...]
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
           let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            part = bytes[(open + 1)..<close]
        }
        return Int(crc16(part) & 0x3FFF)
    }

    /// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as cluster.c's crc16.
    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for b in bytes {
            crc ^= UInt16(b) << 8
            for _ in 0..<8 { crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }
}
