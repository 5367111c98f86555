import BatonCore
import BatonRedis
import Foundation

/// Reads the Redis Cluster slot map every second, every 100 ms while a worker has met a
/// redirection or lost a node, so a failover or migration is followed even when no
/// request arrives and `/status` shows the masters as they are.
final class ClusterWatcher: Sendable {
    let map: ClusterSlotMap

    init(map: ClusterSlotMap) { self.map = map }

    func start() {
        let thread = Thread { [self] in
            while true {
                self.map.refresh()
                Thread.sleep(forTimeInterval: self.map.suspecting ? 0.1 : 1)
            }
        }
        thread.name = "baton-cluster-watch"
        thread.start()
    }
}
