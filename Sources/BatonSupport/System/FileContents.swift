internal import Glibc

/// Whole-file reads with read(2), for the few small files batond reads at start-up (the
/// token file, cgroup limits).
public enum FileContents {
    /// The bytes of the file at `path`, or nil when it cannot be opened or read.
    public static func bytes(atPath path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return out }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            out.append(contentsOf: chunk[..<n])
        }
    }

    /// The file as text; nil when it cannot be read or is not valid UTF-8.
    public static func text(atPath path: String) -> String? {
        bytes(atPath: path).flatMap { String(validating: $0, as: UTF8.self) }
    }
}
