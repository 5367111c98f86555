public import BatonCore
public import BatonHTTP
public import Synchronization

/// The change feed and the watchers, as `/status` (`watch`) and `/metrics` show them: whether
/// blocking reads and `/events` can wait now, and how many wait.
enum WatchStatus {
    static func json(_ w: Watching) -> JSONValue {
        let h = w.hub.snapshot()
        return .object([
            ("feed", .string(h.feedUp ? "up" : "down")),
            ("mode", .string(mode(w, h))),
            ("expiry", .string(h.expiryEvents ? "keyspace_events" : "timer")),
            ("watchers", .int(Int64(h.watchers))),
            ("watcher_limit", .int(Int64(w.hub.limit))),
            ("event_streams", .int(Int64(w.events?.streams ?? 0))),
            ("event_stream_limit", .int(Int64(w.events?.limit ?? 0))),
            ("feed_losses", .int(Int64(h.feedLosses))),
            ("last_feed_error", .string(h.lastFeedError)),
            ("answered", .object([
                ("change", .int(Int64(w.hub.wokenByChange.load(ordering: .relaxed)))),
                ("timeout", .int(Int64(w.hub.timedOut.load(ordering: .relaxed)))),
                ("outage", .int(Int64(w.hub.endedByOutage.load(ordering: .relaxed)))),
            ])),
        ])
    }

    /// `degraded` while the feed is down; once it is up, the event bus' mode (`recovering`
    /// until it has read every watched resource again, then `normal`).
    static func mode(_ w: Watching, _ h: WatchHub.Snapshot) -> String {
        guard h.feedUp else { return "degraded" }
        let bus = w.events?.currentMode ?? "normal"
        return bus == "degraded" ? "recovering" : bus  // the bus hears of the feed just after the hub
    }

    static func metrics(_ watching: Watching?, into out: inout String) {
        guard let w = watching else { return }
        let h = w.hub.snapshot()
        out += "# HELP baton_watch_feed_up Whether the Redis change feed is subscribed (1): blocking reads and /events wait only then.\n"
        out += "# TYPE baton_watch_feed_up gauge\n"
        out += "baton_watch_feed_up \(h.feedUp ? 1 : 0)\n"
        out += "# HELP baton_watch_feed_losses_total Times the change feed was lost after being up (every held blocking read was answered then).\n"
        out += "# TYPE baton_watch_feed_losses_total counter\n"
        out += "baton_watch_feed_losses_total \(h.feedLosses)\n"
        out += "# HELP baton_watchers Blocking reads held now (BATON_WATCH_LIMIT at most).\n"
        out += "# TYPE baton_watchers gauge\n"
        out += "baton_watchers \(h.watchers)\n"
        out += "# HELP baton_event_streams Open GET /events streams (BATON_EVENT_STREAM_LIMIT at most).\n"
        out += "# TYPE baton_event_streams gauge\n"
        out += "baton_event_streams \(w.events?.streams ?? 0)\n"
        out += "# HELP baton_watch_answers_total Blocking reads answered after holding, by why: a change, the wait ran out, the feed was lost or batond stopped.\n"
        out += "# TYPE baton_watch_answers_total counter\n"
        out += "baton_watch_answers_total{reason=\"change\"} \(w.hub.wokenByChange.load(ordering: .relaxed))\n"
        out += "baton_watch_answers_total{reason=\"timeout\"} \(w.hub.timedOut.load(ordering: .relaxed))\n"
        out += "baton_watch_answers_total{reason=\"outage\"} \(w.hub.endedByOutage.load(ordering: .relaxed))\n"
    }
}
