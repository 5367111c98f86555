import BatonSupport
import BatonTestSupport
import Testing

/// Names are checked by a byte scan (``NameRule/accepts(_:)``); the rule's definition is
/// the regular expression it documents (``NameRule/pattern``, also in the spec). They must
/// agree on every string.
@Suite struct NameRuleTests {
    @Test(arguments: [("resource", NameRule.resource), ("holder", NameRule.holder)])
    func theScanAgreesWithThePattern(_ label: String, _ rule: NameRule) throws {
        let regex = try Regex(rule.pattern).matchingSemantics(.unicodeScalar)
        let alphabet: [String] = ["a", "Z", "0", "9", ".", "_", ":", "-", "@", "/", " ", "\t", "\n", "\u{0}", "+", "=", "~",
                                  "%", "\\", "\"", "\u{7F}", "é", "e\u{301}", "東", "🎬", "\u{FEFF}", "`", "[", "{"]
        var rng = SplitMix64(seed: 41)
        var accepted = 0, refused = 0
        for _ in 0..<20_000 {
            var s = ""
            // Mostly characters either rule allows, so both answers are common.
            for _ in 0..<Int(rng.below(6)) { s += alphabet[Int(rng.below(rng.below(4) == 0 ? UInt64(alphabet.count) : 10))] }
            let expected = s.wholeMatch(of: regex) != nil
            #expect(rule.accepts(s) == expected, "\(label): \(s.debugDescription)")
            if expected { accepted += 1 } else { refused += 1 }
        }
        #expect(accepted > 1_000 && refused > 1_000)  // both sides of the rule are reached
        // The length bound, exactly.
        let longest = rule.maxLength
        for n in [longest - 1, longest, longest + 1] {
            let s = "a" + String(repeating: "-", count: n - 1)
            #expect(rule.accepts(s) == (s.wholeMatch(of: regex) != nil), "\(label): length \(n)")
            #expect(rule.accepts(s) == (n <= longest))
        }
    }

    @Test func theTwoRulesDiffer() {
        #expect(NameRule.holder.accepts("pod-a@ns/x"))
        #expect(!NameRule.resource.accepts("pod-a@ns/x"))
        #expect(!NameRule.resource.accepts("-leading"))
        #expect(!NameRule.holder.accepts(""))
    }
}
