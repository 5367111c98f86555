import Synchronization

/// The lowest fencing token a new tenure may get, so tokens never go backwards even
/// when the store forgets its counters (a Redis restart without persistence).
public protocol FencingFloor: Sendable {
    func floor(for lease: LeaseName) -> Int64
    func observe(_ token: FencingToken, for lease: LeaseName)
}

/// No floor: the store's counter alone decides.
public struct NoFencingFloor: FencingFloor {
    public init() {}
    public func floor(for lease: LeaseName) -> Int64 { 0 }
    public func observe(_ token: FencingToken, for lease: LeaseName) {}
}

/// The highest token this process has handed out per lease.
public final class HighestSeenFloor: FencingFloor {
    private let seen = Mutex<[LeaseName: Int64]>([:])
    public init() {}
    public func floor(for lease: LeaseName) -> Int64 { seen.withLock { $0[lease] ?? 0 } }
    public func observe(_ token: FencingToken, for lease: LeaseName) {
        seen.withLock { $0[lease] = max($0[lease] ?? 0, token.value) }
    }
}
