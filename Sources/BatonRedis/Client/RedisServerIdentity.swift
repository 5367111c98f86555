import BatonCore
import Synchronization

/// Which Redis server process answers: its `run_id`, read on every new connection.
///
/// A new run id means a restart or a failover to another server, which may have lost or
/// never seen the latest writes. The scripts compare it with the run id stored beside each
/// lease's and task's counter (see ``FencingLua``); this object tells the process, so it
/// can carry what it granted under the earlier server into the new one.
public final class RedisServerIdentity: Sendable {
    private struct State {
        var runId: String?
        var listeners: [@Sendable (_ old: String, _ new: String) -> Void] = []
    }

    private let state = Mutex(State())
    /// Held by a thread while it records a run id and, on a change, tells the listeners:
    /// another new connection to the same server waits until they are done, so its first
    /// command runs with what they carried (see ``observe(_:)``).
    private let recording = Mutex(())

    public init() {}

    /// The run id of the server last connected to, nil before the first connection or
    /// when the server does not tell (INFO renamed or forbidden).
    public var runId: String? { state.withLock { $0.runId } }

    /// Calls `listener` on every change of server after the first one seen, on the thread
    /// that noticed it, before that thread sends its command.
    public func onChange(_ listener: @escaping @Sendable (_ old: String, _ new: String) -> Void) {
        state.withLock { $0.listeners.append(listener) }
    }

    /// Records the run id of a new connection; returns once the listeners of a change have
    /// run, whichever thread saw it first.
    ///
    /// Why wait for another thread's listeners: the first connection to a new server runs them
    /// (the fencing floor carries this process's grants into the new server); a second
    /// connection that found the change already recorded went on at once and could send an
    /// acquire with guardrails from before the carry, which the new server (having lost the
    /// lease) granted, while the holder granted under the old server still led. Its grant was
    /// not voided either when it was answered before the switch was counted.
    func observe(_ runId: String) {
        guard !runId.isEmpty else { return }
        recording.withLock { _ in
            let (old, listeners) = state.withLock { s -> (String?, [@Sendable (String, String) -> Void]) in
                let old = s.runId
                s.runId = runId
                return (old, s.listeners)
            }
            // Outside the state lock (a listener may read ``runId``), once per change: only the
            // thread that recorded the new run id sees the old one.
            if let old, old != runId { for l in listeners { l(old, runId) } }
        }
    }

    /// Tells the listeners of a change of server seen elsewhere (a cluster node's own
    /// identity, or a range of slots that moved to another master).
    func announce(_ old: String, _ new: String) {
        let listeners = state.withLock { $0.listeners }
        for l in listeners { l(old, new) }
    }

    /// The `run_id` field of an `INFO server` reply, or "" when absent.
    static func runId(fromInfo info: String) -> String {
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("run_id:") {
            return String(line.dropFirst("run_id:".count).filter { !$0.isWhitespace })
        }
        return ""
    }
}
