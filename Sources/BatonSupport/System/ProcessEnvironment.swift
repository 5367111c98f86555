internal import Glibc

/// The process's environment, read from `environ` (what `ProcessInfo.environment` gave).
public enum ProcessEnvironment {
    /// Every `NAME=value` pair; for a name given twice the first wins, as getenv(3) does.
    public static func variables() -> [String: String] {
        var result: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let pair = String(cString: pointer)
            if let eq = pair.firstIndex(of: "="), result[String(pair[..<eq])] == nil {
                result[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
            }
            entry += 1
        }
        return result
    }
}
