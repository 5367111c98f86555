import BatonCore
import BatonTestSupport
import Testing

/// A token with a control character (Unicode category Cc: C0, DEL, C1) is refused before
/// any look-up. The check scans UTF-8 bytes; the definition is over scalars.
@Suite struct ControlCharacterTests {
    @Test func theByteScanIsTheScalarDefinition() {
        let alphabet: [String] = ["a", "Z", "0", "-", "\u{0}", "\u{1F}", " ", "\u{7E}", "\u{7F}", "\u{80}", "\u{85}", "\u{9F}", "\u{A0}",
                                  "\u{C2}", "é", "\u{100}", "\u{2028}", "東", "🎬", "\u{FEFF}", "\u{0302}"]
        var rng = SplitMix64(seed: 71)
        var with = 0, without = 0
        for _ in 0..<20_000 {
            var s = ""
            for _ in 0..<Int(rng.below(5)) { s += alphabet[Int(rng.below(UInt64(alphabet.count)))] }
            let expected = s.unicodeScalars.contains { $0.value < 0x20 || ($0.value >= 0x7F && $0.value <= 0x9F) }
            #expect(SessionValidator.hasControlCharacter(s) == expected, "\(s.unicodeScalars.map { $0.value })")
            if expected { with += 1 } else { without += 1 }
        }
        #expect(with > 1_000 && without > 1_000)
    }
}
