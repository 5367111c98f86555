internal import Glibc

/// Calls `body` with a NULL-terminated C array of C strings (NULL for a nil entry, and one
/// NULL after the last), valid only inside `body`: libpq's parameter arrays and execve's
/// argv and envp both take this shape.
public func withCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) throws -> R) rethrows -> R {
    let owned: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } ?? nil } + [nil]
    defer { owned.forEach { free($0) } }
    return try owned.withUnsafeBufferPointer { try body($0.baseAddress!) }
}

/// The same array typed as `const char * const *` (libpq's parameter and keyword arrays):
/// a pointer to the same memory, only the element type is const.
public func withCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) throws -> R) rethrows -> R {
    try withCStrings(strings) { (mutable: UnsafePointer<UnsafeMutablePointer<CChar>?>) in
        try body(UnsafeRawPointer(mutable).assumingMemoryBound(to: UnsafePointer<CChar>?.self))
    }
}
