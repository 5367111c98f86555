import BatonAPI
import BatonCore
import BatonRedis
import Foundation

/// Asks the sentinels for the master every second, every 100 ms while a worker has seen
/// trouble (see ``SentinelMaster`` for why polling), so a failover is followed even when
/// no request arrives.
final class SentinelWatcher: Sendable {
    let master: SentinelMaster

    init(master: SentinelMaster) { self.master = master }

    func start() {
        let thread = Thread { [self] in
            while true {
                self.master.poll()
                Thread.sleep(forTimeInterval: self.master.suspecting ? 0.1 : 1)
            }
        }
        thread.name = "baton-sentinel-watch"
        thread.start()
    }
}
