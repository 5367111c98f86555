@testable import BatonAPI
import BatonCore
import BatonHTTP
import Testing

/// `POST /leader` answers are written straight into bytes (``LeaseView/encodedJSON``); they
/// must be exactly what the general encoder writes for ``LeaseView/fields``, for every shape
/// a lease answer takes.
@Suite struct LeaseJSONTests {
    func views() -> [LeaseView] {
        let lease = LeaseName("jellyfin-tasks")!, other = LeaseName("a.b_c:d-9")!
        let pod = Holder("pod-a@ns/x")!, rival = Holder("pod-b")!
        let times: [Int64] = [0, 1_764_547_200_123, -1, -86_400_001, 253_402_300_799_999, 999_999_999_999_999]
        var all: [LeaseView] = [
            LeaseView(lease: lease, tenure: nil, caller: pod),
            LeaseView(lease: lease, tenure: nil, caller: nil, reason: .recovering),
            LeaseView.degraded(lease: other, caller: pod, ttlMs: 30_000, nowMs: 1_764_547_200_123),
        ]
        for (i, t) in times.enumerated() {
            let tenure = Tenure(holder: i % 2 == 0 ? pod : rival, fencingToken: FencingToken(i == 5 ? Int64.max : Int64(i) * 1_000_003),
                                acquiredAtMs: t, ttlMs: 1 + i * 7_919, expiresInMs: i * 13)
            all.append(LeaseView(lease: lease, tenure: tenure, caller: pod, acquired: i % 3 == 0))
            all.append(LeaseView(lease: other, tenure: tenure, caller: rival, reason: .recovering))
        }
        return all
    }

    @Test func directBytesEqualTheEncodedFields() {
        for v in views() {
            #expect(String(decoding: v.encodedJSON, as: UTF8.self) == v.json.text)
        }
    }

    @Test func theAnswerIsTheDocumentedObject() throws {
        let t = Tenure(holder: Holder("pod-a")!, fencingToken: FencingToken(42), acquiredAtMs: 1_000, ttlMs: 30_000, expiresInMs: 29_000)
        let text = String(decoding: LeaseView(lease: LeaseName("l")!, tenure: t, caller: Holder("pod-a")!, acquired: true).encodedJSON, as: UTF8.self)
        #expect(text == #"{"lease":"l","holder":"pod-a","leader":true,"acquired":true,"fencing_token":42,"ttl_ms":30000,"expires_in_ms":29000,"acquired_at":"1970-01-01T00:00:01.000Z","mode":"normal","reason":null}"#)
    }
}
