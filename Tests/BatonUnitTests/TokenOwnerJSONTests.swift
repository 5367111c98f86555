@testable import BatonAPI
import BatonCore
import BatonHTTP
import Testing

/// Valid `/sessions/validate` answers are written straight into bytes
/// (``TokenOwner/encodedJSON``); they must be exactly what the general encoder writes for
/// ``TokenOwner/json``, for every shape an owner takes and for strings that need escaping.
@Suite struct TokenOwnerJSONTests {
    func owners() -> [TokenOwner] {
        let awkward = ["", "plain", "quote \" backslash \\ slash /", "tab\tnew\nline\r", "\u{01}\u{1F}\u{7F}", "Zoë 東京 🎬", "\u{0}"]
        var all: [TokenOwner] = [
            TokenOwner(kind: .apiKey, userId: nil, userName: nil, isAdmin: true, isDisabled: false, apiKeyName: "ingress"),
            TokenOwner(kind: .device, userId: nil, userName: nil, isAdmin: false, isDisabled: false),
        ]
        for (i, s) in awkward.enumerated() {
            all.append(TokenOwner(kind: .device, userId: "u\(i)", userName: s, isAdmin: i % 2 == 0, isDisabled: false,
                                  deviceId: s, deviceName: i % 3 == 0 ? nil : s, appName: s, appVersion: "10.11.\(i)",
                                  apiKeyName: i == 4 ? s : nil))
        }
        return all
    }

    @Test func directBytesEqualTheEncodedTree() {
        for o in owners() {
            #expect(String(decoding: o.encodedJSON, as: UTF8.self) == o.json.text)
        }
    }

    @Test func theAnswerIsTheDocumentedObject() {
        let o = TokenOwner(kind: .device, userId: "4f1c", userName: "alice", isAdmin: false, isDisabled: false,
                           deviceId: "d1", deviceName: "TV", appName: "Jellyfin Web", appVersion: "10.11.0")
        #expect(String(decoding: o.encodedJSON, as: UTF8.self) ==
            #"{"valid":true,"kind":"device","user_id":"4f1c","user_name":"alice","is_admin":false,"device_id":"d1","device_name":"TV","app_name":"Jellyfin Web","app_version":"10.11.0","api_key_name":null}"#)
    }
}
