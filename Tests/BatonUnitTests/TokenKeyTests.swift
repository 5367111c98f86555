@testable import BatonAPI
import BatonTestSupport
import Testing

@Suite struct TokenKeyTests {
    /// `Token` keys are trimmed of Unicode White_Space as .NET's `Trim` does; ASCII keys take
    /// a byte path, which must agree with decoding and trimming for every key.
    @Test func tokenKeyBytePathAgreesWithDecoding() {
        let pieces: [[UInt8]] = [Array("Token".utf8), Array("token".utf8), Array("Tok".utf8), Array("en".utf8), [0x20], [0x09], [0x0A],
                                 [0x0B], [0x0C], [0x0D], [0x1C], [0x1F], [0x08], [0x7F], Array("\u{85}".utf8), Array("\u{A0}".utf8),
                                 Array("\u{3000}".utf8), Array("\u{200B}".utf8), [0xC2], [0xFF], Array("x".utf8)]
        var rng = SplitMix64(seed: 23)
        var checked = 0, tokens = 0
        for _ in 0..<20_000 {
            var key: [UInt8] = []
            for _ in 0..<(1 + Int(rng.below(5))) { key += pieces[Int(rng.below(UInt64(pieces.count)))] }
            if rng.below(2) == 0 { key = [0x20] + key }  // as after a comma
            let fast = key.withUnsafeBufferPointer { MediaBrowserAuthorization.isTokenKey($0) }
            let slow = key.withUnsafeBufferPointer { MediaBrowserAuthorization.isTokenKeyDecoding($0) }
            #expect(fast == slow, "key bytes \(key)")
            checked += 1
            if fast { tokens += 1 }
        }
        #expect(checked == 20_000)
        #expect(tokens > 100)  // the generator does reach the interesting case
        for key in [" Token", "Token\t", "\u{0B}\u{0C}Token\r\n", "\u{A0}Token", "Token\u{3000}"] {
            #expect(Array(key.utf8).withUnsafeBufferPointer { MediaBrowserAuthorization.isTokenKey($0) })
        }
        for key in [" Tokens", "\u{1C}Token", "To ken", "\u{200B}Token", "\u{7F}Token"] {
            #expect(!Array(key.utf8).withUnsafeBufferPointer { MediaBrowserAuthorization.isTokenKey($0) })
        }
    }
}
