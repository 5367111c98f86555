import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a keep-alive call (lease renewal, claim extension) found.
enum KeepAliveResult: Sendable {
    /// Still ours for this long, counted from when the request was sent.
    case kept(validForMs: Int64)
    /// Someone else has it now, or it expired.
    case lost(String)
    /// No answer (Baton unavailable) or an answer that is not a yes: try again.
    case failed(String)
}
