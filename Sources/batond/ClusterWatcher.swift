import BatonCore
import BatonRedis
import BatonSupport

/// Reads the Redis Cluster slot map every second, every 100 ms while a worker has met a
/// redirection or lost a node, so a failover or migration is followed even when no
/// request arrives and `/status` shows the masters as they are.
final class ClusterWatcher: Sendable {
    let map: ClusterSlotMap

    init(map: ClusterSlotMap) { self.map = map }

    func start() {
        BackgroundThread.start(name: "baton-cluster-watch") { [self] in
            while true {
                self.map.refresh()
                BackgroundThread.sleep(ms: self.map.suspecting ? 100 : 1_000)
            }
        }
    }
}
