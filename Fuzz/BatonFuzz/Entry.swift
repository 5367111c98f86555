import BatonAPI
import Glibc

// The fuzz target over Baton's request-decoding layer (``RequestDecodingFuzz``).
//
// Built normally (`swift build`), this is a replay tool: it runs the inputs given as files
// or folders, and with `--mutate N` also N random mutations of each (what the test
// command runs). Built by chaos/fuzz.sh with `-sanitize=fuzzer,address -D BATON_LIBFUZZER`,
// it is a libFuzzer binary; `main` hands over to libFuzzer's driver, because SwiftPM links
// executables with their own `main`.

@_cdecl("LLVMFuzzerTestOneInput")
public func batonFuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    RequestDecodingFuzz.run(bytes)
    return 0
}

#if BATON_LIBFUZZER
@_extern(c, "LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

@main
enum FuzzDriver {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, batonFuzzOne))
    }
}
#else
@main
enum Replay {
    static func main() {
        var paths: [String] = []
        var mutations = 0
        var seed: UInt64 = 1
        var args = CommandLine.arguments.dropFirst()
        while let a = args.popFirst() {
            switch a {
            case "--mutate": mutations = Int(args.popFirst() ?? "") ?? 0
            case "--seed": seed = UInt64(args.popFirst() ?? "") ?? 1
            case "-h", "--help":
                print("usage: BatonFuzz [--mutate N] [--seed S] FILE_OR_DIR...")
                return
            default: paths.append(a)
            }
        }
        var inputs: [[UInt8]] = []
        for path in paths { inputs.append(contentsOf: read(path)) }
        var rng = SplitMix(state: seed)
        var runs = 0
        for input in inputs {
            RequestDecodingFuzz.run(input)
            runs += 1
            for _ in 0..<mutations {
                RequestDecodingFuzz.run(mutate(input, inputs, &rng))
                runs += 1
            }
        }
        print("BatonFuzz: \(inputs.count) inputs, \(runs) runs, no failure")
    }

    /// The files at `path` (a file, or every file in a folder).
    static func read(_ path: String) -> [[UInt8]] {
        var st = stat()
        guard stat(path, &st) == 0 else { fatalError("cannot read \(path)") }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            guard let dir = opendir(path) else { return [] }
            defer { closedir(dir) }
            var names: [String] = []
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if !name.hasPrefix(".") { names.append(name) }
            }
            return names.sorted().flatMap { read(path + "/" + $0) }
        }
        guard let f = fopen(path, "rb") else { return [] }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return [bytes]
    }

    /// A few of libFuzzer's mutations: flip, insert, erase, duplicate, splice, interesting bytes.
    static func mutate(_ input: [UInt8], _ all: [[UInt8]], _ rng: inout SplitMix) -> [UInt8] {
        var b = input
        let interesting: [[UInt8]] = [Array("\"".utf8), Array("\\u".utf8), Array("\\ud800".utf8), [0xFF], [0xC3], [0],
                                      Array("{".utf8), Array("[".utf8), Array("1e999".utf8), Array("-0".utf8),
                                      Array("%".utf8), Array("%0".utf8), Array(",".utf8), Array("=".utf8), Array("\n".utf8)]
        for _ in 0..<(1 + Int(rng.next() % 4)) {
            let pos = b.isEmpty ? 0 : Int(rng.next() % UInt64(b.count + 1))
            switch rng.next() % 6 {
            case 0 where !b.isEmpty: b[min(pos, b.count - 1)] ^= UInt8(truncatingIfNeeded: 1 << (rng.next() % 8))
            case 1: b.insert(UInt8(truncatingIfNeeded: rng.next()), at: pos)
            case 2 where !b.isEmpty:
                let n = min(b.count - min(pos, b.count - 1), 1 + Int(rng.next() % 8))
                b.removeSubrange(min(pos, b.count - 1)..<(min(pos, b.count - 1) + n))
            case 3 where !b.isEmpty:
                let start = Int(rng.next() % UInt64(b.count))
                let end = min(b.count, start + 1 + Int(rng.next() % 16))
                b.insert(contentsOf: Array(b[start..<end]), at: pos)
            case 4:
                let other = all[Int(rng.next() % UInt64(all.count))]
                if !other.isEmpty {
                    let start = Int(rng.next() % UInt64(other.count))
                    b.insert(contentsOf: other[start..<min(other.count, start + 1 + Int(rng.next() % 32))], at: pos)
                }
            default:
                b.insert(contentsOf: interesting[Int(rng.next() % UInt64(interesting.count))], at: pos)
            }
        }
        return b
    }
}

struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
#endif
