import BatonSupport

/// The requests held without a worker thread (``DeferredResponse``), so that the server's
/// `stop` can answer whatever is left before it stops libmicrohttpd.
///
/// Every pipelined `POST /leader` is added here and removed again, on its worker thread.
/// One lock for all of them was the worst lock in batond: with 8 workers on 2 cores, 23.7 %
/// of its samples were spent in that lock's slow path (perf), and `POST /leader` fell from
/// about 42,000 to 24,000 requests/s in some runs, p99 129 ms. So the requests are split
/// into shards by their address, each behind its own lock; two workers meet on one only
/// when their requests land in the same shard.
final class HeldRequests: Sendable {
    private static let shardCount = 16
    private let shards: [SleepingLock<[ObjectIdentifier: DeferredResponse]>]

    init() {
        shards = (0..<Self.shardCount).map { _ in SleepingLock([:]) }
    }

    func add(_ response: DeferredResponse) {
        let id = ObjectIdentifier(response)
        shard(id).withLock { $0[id] = response }
    }

    func remove(_ response: DeferredResponse) {
        let id = ObjectIdentifier(response)
        shard(id).withLock { _ = $0.removeValue(forKey: id) }
    }

    /// Every request held now.
    func all() -> [DeferredResponse] {
        shards.flatMap { shard in shard.withLock { Array($0.values) } }
    }

    /// Objects are at least 16-byte aligned: the bits above those pick the shard.
    private func shard(_ id: ObjectIdentifier) -> SleepingLock<[ObjectIdentifier: DeferredResponse]> {
        shards[Int((UInt(bitPattern: id) >> 4) % UInt(Self.shardCount))]
    }
}
