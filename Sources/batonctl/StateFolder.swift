// CoreFoundation: under MemberImportVisibility the clang importer credits struct stat and
// timespec to whichever module first included their headers, here CoreFoundation.
import CoreFoundation
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The folder of the failure counters, used only when nobody else can write in it.
///
/// On a shared /tmp another local user could create `batonctl-<uid>` first, plant a counter
/// of 99 (the next failure ran the command "WITHOUT COORDINATION") or symlinks through which
/// batonctl's `O_CREAT|O_TRUNC` overwrote the victim's files (issue 15). So the folder is
/// created 0700, a folder that is a symlink, not ours, or writable by group or others is
/// refused (its counters are neither read nor written), files are opened with `O_NOFOLLOW`,
/// and a counter is written to a fresh temporary file (`O_EXCL`) renamed over the old one.
enum StateFolder {
    /// Creates `path` (mode 0700) when it does not exist; its parents as needed.
    static func create(_ path: String) {
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path { try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) }
        _ = mkdir(path, 0o700)
    }

    /// Why `path` must not be used, or nil when it is a real folder of ours that only we can write.
    static func problem(_ path: String) -> String? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return "it does not exist (\(String(cString: strerror(errno))))" }
        if (st.st_mode & S_IFMT) == S_IFLNK { return "it is a symbolic link" }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return "it is not a folder" }
        guard st.st_uid == geteuid() else { return "it belongs to uid \(st.st_uid), not \(geteuid())" }
        guard st.st_mode & 0o022 == 0 else { return "group or others may write in it (mode \(String(st.st_mode & 0o7777, radix: 8)))" }
        return nil
    }

    /// The text of a regular file, not following a symlink; nil when absent or unreadable.
    static func readFile(_ path: String, limit: Int = 4096) -> String? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        var buffer = [UInt8](repeating: 0, count: limit)
        let n = read(fd, &buffer, limit)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }

    /// Writes `text` to `path` atomically: a new file (0600) beside it, then rename(2),
    /// which replaces whatever is at `path` (a symlink included) without following it.
    static func writeFile(_ text: String, to path: String) -> Bool {
        let temp = path + ".\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let closed = close(fd)
        guard written == bytes.count, closed == 0, rename(temp, path) == 0 else {
            unlink(temp)
            return false
        }
        return true
    }
}
