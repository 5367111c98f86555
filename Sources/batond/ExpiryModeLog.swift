import BatonAPI
import BatonSupport
import BatonCore
import Synchronization

/// Passes the change feed to the watch hub and the event bus, and says, once per change of it, how expiry
/// reaches watchers: Redis' own `expired` events, or a re-read at each watched tenure's
/// expiry because `notify-keyspace-events` lacks `Ex` (or CONFIG is not allowed).
struct ExpiryModeLog: ChangeListener {
    let hub: WatchHub
    let events: EventBus
    private let last = LastMode()

    init(_ hub: WatchHub, _ events: EventBus) {
        self.hub = hub
        self.events = events
    }

    func changed(_ key: WatchKey) {
        hub.changed(key)
        events.changed(key)
    }

    func lateCompletion(_ late: LateCompletion) {
        events.lateCompletion(late)
    }

    func feedDown(_ reason: String) {
        hub.feedDown(reason)
        events.mode("degraded")
    }

    func feedUp(expiryEvents: Bool) {
        if last.swap(expiryEvents) != expiryEvents {
            if expiryEvents {
                Log.current.info("redis change feed up; expiry reaches watchers through keyspace events (notify-keyspace-events has Ex)")
            } else {
                Log.current.info("redis change feed up; notify-keyspace-events lacks Ex (or CONFIG is not allowed, or Redis Cluster: one node's events are not enough): watchers re-read when the tenure they see is due to expire")
            }
        }
        hub.feedUp(expiryEvents: expiryEvents)
        events.mode("normal", expiryEvents: expiryEvents)
    }
}


private final class LastMode: Sendable {
    private let value = Mutex<Bool?>(nil)
    func swap(_ new: Bool) -> Bool? { value.withLock { old in defer { old = new }; return old } }
}
