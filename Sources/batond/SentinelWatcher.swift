import BatonAPI
import BatonCore
import BatonRedis
import BatonSupport

/// Asks the sentinels for the master every second, every 100 ms while a worker has seen
/// trouble (see ``SentinelMaster`` for why polling), so a failover is followed even when
/// no request arrives.
final class SentinelWatcher: Sendable {
    let master: SentinelMaster

    init(master: SentinelMaster) { self.master = master }

    func start() {
        BackgroundThread.start(name: "baton-sentinel-watch") { [self] in
            while true {
                self.master.poll()
                BackgroundThread.sleep(ms: self.master.suspecting ? 100 : 1_000)
            }
        }
    }
}
