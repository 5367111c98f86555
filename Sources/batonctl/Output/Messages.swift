import Foundation

/// Everything batonctl says goes to stderr prefixed "batonctl: "; data goes to stdout.
enum Log {
    static func info(_ message: String) {
        FileHandle.standardError.write(Data("batonctl: \(message)\n".utf8))
    }

    static func warn(_ message: String) {
        FileHandle.standardError.write(Data("batonctl: warning: \(message)\n".utf8))
    }

    /// A message that must not be missed: framed so it stands out in a log.
    static func loud(_ lines: [String]) {
        let bar = String(repeating: "!", count: 78)
        var text = "\(bar)\n"
        for line in lines { text += "!! batonctl: \(line)\n" }
        text += "\(bar)\n"
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// Data for stdout, newline-terminated.
func printOut(_ text: String) {
    FileHandle.standardOutput.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
}
