import BatonHTTP
import Glibc
import Testing

/// JSON decoding is linear and bounded (issue 15, item 3: a 64 KiB body of 7,766 keys took
/// 2.2 s in a debug build because every key was compared with every earlier one).
@Suite struct JSONBoundsTests {
    /// `{"a":0,"b":0,...,"aB":0,...}` with `n` distinct short keys (7,766 fit in 64 KiB,
    /// as in the attack review's body).
    static func manyKeys(_ n: Int) -> [UInt8] {
        let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        var s = "{"
        for i in 0..<n {
            var key = "", k = i
            repeat { key.append(letters[k % letters.count]); k /= letters.count } while k > 0
            s += (i > 0 ? "," : "") + "\"\(key)\":0"
        }
        return Array((s + "}").utf8)
    }

    static func seconds(_ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<5 {
            var a = timespec(), b = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a)
            body()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b)
            best = min(best, Double(b.tv_sec - a.tv_sec) + Double(b.tv_nsec - a.tv_nsec) / 1e9)
        }
        return best
    }

    @Test func tooManyKeysIsA400NamingTheLimit() throws {
        let body = Self.manyKeys(7_766)
        #expect(body.count <= 64 * 1024)
        do {
            _ = try BodyReader(body, allowed: ["token"])
            Issue.record("accepted")
        } catch {
            #expect(error.status == 400 && error.code == "invalid_json")
            #expect(error.detail.contains("more than \(JSONParser.defaultMaxKeys) keys"), "\(error.detail)")
        }
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse(Self.manyKeys(JSONParser.defaultMaxKeys + 1)) }
        guard case .object(let pairs) = try JSONParser.parse(Self.manyKeys(JSONParser.defaultMaxKeys)) else { Issue.record("not an object"); return }
        #expect(pairs.count == JSONParser.defaultMaxKeys)
    }

    @Test func duplicatesAreFoundInSmallAndLargeObjects() {
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse(Array(#"{"a":1,"b":2,"a":3}"#.utf8)) }
        var big = Self.manyKeys(100)
        big.removeLast()
        big += Array(#","d":1}"#.utf8)
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse(big) }
        #expect((try? JSONParser.parse(Self.manyKeys(100))) != nil)
    }

    /// 8x the keys must cost about 8x the time, not 64x (quadratic). Unbounded here, to
    /// measure the algorithm; at most a few tens of milliseconds in a debug build. The best of
    /// five of this thread's CPU time, not wall time: at load 12 (helpers building on 2 cores)
    /// wall time made a linear parse look 50x slower.
    @Test func decodingIsLinearInTheNumberOfKeys() throws {
        let small = Self.manyKeys(2_000), large = Self.manyKeys(16_000)
        let tSmall = Self.seconds { _ = try? JSONParser.parse(small, maxKeys: .max) }
        let tLarge = Self.seconds { _ = try? JSONParser.parse(large, maxKeys: .max) }
        guard case .object(let pairs) = try JSONParser.parse(large, maxKeys: .max) else { Issue.record("not an object"); return }
        #expect(pairs.count == 16_000)
        #expect(tLarge / tSmall < 24, "2,000 keys \(tSmall * 1000) ms, 16,000 keys \(tLarge * 1000) ms: ratio \(tLarge / tSmall)")
    }
}
