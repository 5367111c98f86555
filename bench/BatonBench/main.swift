import BatonHTTP
import Glibc

// Micro-benchmarks of batond's request decoding, for figures in a release build:
//
//     swift run -c release BatonBench json
//
// `json`: the attack review's body (issue 15): a 64 KiB JSON object of 7,766 keys, sent to
// the open POST /sessions/validate. It times the parse as batond runs it (refused at the
// key limit), the whole decode without the limit (the cost of the duplicate-key check:
// quadratic before, 2.2 s in a debug build), and a normal validation body. Each figure is
// the median of `--runs` runs (default 201).

/// `{"a":0,"b":0,...}` with `n` distinct short keys.
func manyKeys(_ n: Int) -> [UInt8] {
    let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    var s = "{"
    for i in 0..<n {
        var key = "", k = i
        repeat { key.append(letters[k % letters.count]); k /= letters.count } while k > 0
        s += (i > 0 ? "," : "") + "\"\(key)\":0"
    }
    return Array((s + "}").utf8)
}

func nowNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Median wall time of `body` in microseconds.
func medianMicroseconds(runs: Int, _ body: () -> Void) -> Double {
    var samples: [UInt64] = []
    samples.reserveCapacity(runs)
    for _ in 0..<runs {
        let t0 = nowNs()
        body()
        samples.append(nowNs() - t0)
    }
    samples.sort()
    return Double(samples[samples.count / 2]) / 1000
}

/// `µs` with one decimal, right-aligned in 10 columns.
func fmt(_ us: Double) -> String {
    let tenths = Int((us * 10).rounded())
    let text = "\(tenths / 10).\(tenths % 10) µs"
    return String(repeating: " ", count: max(0, 13 - text.count)) + text
}

func json(runs: Int) {
    // The review's body was 64 KiB: the same keys, padded with white space to 65,536 bytes.
    var attack = manyKeys(7_766)
    attack.insert(contentsOf: [UInt8](repeating: 0x20, count: max(0, 65_536 - attack.count)), at: attack.count - 1)
    let normal = Array(#"{"token":"0123456789abcdef0123456789abcdef"}"#.utf8)
    print("body: \(attack.count) bytes, 7766 keys; key limit \(JSONParser.defaultMaxKeys); median of \(runs) runs")
    var outcome = ""
    let limited = medianMicroseconds(runs: runs) {
        do { _ = try BodyReader(attack, allowed: ["token"]) } catch let p as Problem { outcome = "\(p.status) \(p.code): \(p.detail)" } catch {}
    }
    print("  as batond decodes it (BodyReader): \(fmt(limited))  -> \(outcome)")
    let full = medianMicroseconds(runs: runs) { _ = try? JSONParser.parse(attack, maxKeys: .max) }
    print("  whole object, no key limit:        \(fmt(full))")
    let small = medianMicroseconds(runs: runs) { _ = try? BodyReader(normal, allowed: ["token"]) }
    print("  a normal {\"token\": ...} body:     \(fmt(small))")
}

var args = CommandLine.arguments.dropFirst()
var runs = 201
var mode = "json"
while let a = args.popFirst() {
    switch a {
    case "--runs": runs = max(1, Int(args.popFirst() ?? "") ?? runs)
    case "json": mode = a
    default:
        print("usage: BatonBench [json] [--runs N]")
        exit(2)
    }
}
if mode == "json" { json(runs: runs) }
