import BatonCore
import BatonHTTP

extension TokenOwner {
    /// The same bytes as `json.encoded()`, written straight into one buffer: the body of
    /// every valid `/sessions/validate` answer, the hot path of a forwardAuth gate. Building
    /// the ten-pair `JSONValue` tree, encoding it and freeing it cost about 12,000
    /// instructions per cached validation (callgrind, issue 17). `TokenOwnerJSONTests`
    /// checks both forms agree, so ``json`` stays the definition of the shape.
    var encodedJSON: [UInt8] {
        // Room for the literals (124 bytes) and eight strings.
        func room(_ s: String?) -> Int { JSONOutput.room(for: s ?? "") }
        let room = 160 + room(kind.rawValue) + room(userId) + room(userName) + room(deviceId) + room(deviceName)
            + room(appName) + room(appVersion) + room(apiKeyName)
        return JSONOutput.bytes(capacity: room) { out in
            out.literal(#"{"valid":true,"kind":"#)
            out.string(kind.rawValue)
            out.literal(#","user_id":"#)
            out.string(userId)
            out.literal(#","user_name":"#)
            out.string(userName)
            out.literal(isAdmin ? #","is_admin":true"# : #","is_admin":false"#)
            out.literal(#","device_id":"#)
            out.string(deviceId)
            out.literal(#","device_name":"#)
            out.string(deviceName)
            out.literal(#","app_name":"#)
            out.string(appName)
            out.literal(#","app_version":"#)
            out.string(appVersion)
            out.literal(#","api_key_name":"#)
            out.string(apiKeyName)
            out.literal("}")
        }
    }
}
