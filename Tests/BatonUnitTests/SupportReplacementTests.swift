@testable import BatonSupport
import Testing

/// What replaced Foundation in batond behaves as what it replaced.
@Suite struct SupportReplacementTests {
    /// As `UUID().uuidString.lowercased()`: 36 characters, hyphens at 8, 13, 18 and 23,
    /// version 4, RFC 4122 variant, lower-case hex; and different every time.
    @Test func runIdsAreRandomVersion4UUIDs() {
        let ids = (0..<200).map { _ in RandomID.uuid() }
        #expect(Set(ids).count == ids.count)
        for id in ids {
            let chars = Array(id)
            #expect(chars.count == 36)
            #expect([8, 13, 18, 23].allSatisfy { chars[$0] == "-" })
            #expect(chars[14] == "4" && "89ab".contains(chars[19]))
            #expect(id.replacing("-", with: "").allSatisfy { "0123456789abcdef".contains($0) })
        }
    }

    /// As `String(v)` for every magnitude and sign (Int64.min has no positive twin), and
    /// zero-padded as `%0*lld` would pad.
    @Test func decimalDigitsAreWhatStringWrites() {
        var values: [Int64] = [0, 1, -1, 9, 10, -10, 99, 100, Int64.max, Int64.min, Int64.min + 1]
        var p: Int64 = 1
        for _ in 0..<18 { p *= 10; values += [p - 1, p, p + 1, -p, -(p - 1)] }
        var rng = SystemRandomNumberGenerator()
        values += (0..<500).map { _ in Int64.random(in: .min ... .max, using: &rng) }
        for v in values {
            var out: [UInt8] = [0x78]  // appends after what is there
            DecimalDigits.append(v, to: &out)
            #expect(out == [0x78] + Array(String(v).utf8), "\(v)")
        }
        for (v, width, text) in [(5, 3, "005"), (123, 2, "123"), (0, 4, "0000"), (-7, 3, "-007"), (2026, 4, "2026"),
                                 (7, 2, "07"), (42, 2, "42"), (0, 2, "00"), (9, 1, "9"), (99, 3, "099"), (99, 0, "99")] as [(Int64, Int, String)] {
            var out: [UInt8] = []
            DecimalDigits.append(v, minimumWidth: width, to: &out)
            #expect(String(decoding: out, as: UTF8.self) == text)
        }
        // Timestamps are built from it.
        #expect(Timestamp.rfc3339(ms: 1_796_167_009_961) == "2026-12-01T23:16:49.961Z")
        #expect(Timestamp.rfc3339(ms: 0) == "1970-01-01T00:00:00.000Z")
    }

    @Test func processorCountReadsTheAffinityMaskAndTheCgroupQuota() {
        #expect(ProcessorCount.affinity(status: "Name:\tbatond\nCpus_allowed:\t00000000,0000000f\nCpus_allowed_list:\t0-3\n") == 4)
        #expect(ProcessorCount.affinity(status: "Cpus_allowed:\t3\n") == 2)
        #expect(ProcessorCount.affinity(status: "Name:\tbatond\n") == nil)
        #expect(ProcessorCount.quota(cpuMax: "150000 100000\n") == 2)  // 1.5 CPUs: 2 threads' worth
        #expect(ProcessorCount.quota(cpuMax: "max 100000\n") == nil)
        #expect(ProcessorCount.available() >= 1)
    }

    /// As `trimmingCharacters(in: .whitespaces)`: spaces and tabs, not other characters.
    @Test func trimmingSpacesTrimsSpacesAndTabsOnly() {
        #expect(" \ttoken-1\u{00A0} ".trimmingSpaces() == "token-1")
        #expect("  ".trimmingSpaces() == "")
        #expect("a b".trimmingSpaces() == "a b")
        #expect("#x".trimmingSpaces() == "#x")
    }

    @Test func wakeSignalTimesOutAndCountsWakeUps() {
        let signal = WakeSignal()
        let start = MonotonicClock.milliseconds()
        #expect(signal.wait(timeoutMs: 50) == false)
        #expect(MonotonicClock.milliseconds() - start >= 50)
        signal.signal()
        signal.signal()
        #expect(signal.wait(timeoutMs: 0) && signal.wait(timeoutMs: 0))
        #expect(signal.wait(timeoutMs: 0) == false)
    }

    /// `%.3f` for the values the integer path cannot hold, byte for byte.
    @Test func hugeLogValuesPrintAsPrintfWould() {
        #expect(Log.printf3(1e20) == "100000000000000000000.000")
        #expect(Log.printf3(-2.5e15) == "-2500000000000000.000")
    }
}
