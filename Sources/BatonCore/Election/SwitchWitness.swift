import Synchronization

/// Judges whether a grant answered later, on another thread, may come from a Redis server
/// batond has since left: the answer to ``FencingFloor/switchedUnderneath(since:)`` for a
/// call whose command is framed on one thread and answered on another (the pipeline,
/// ``LeaseStore/answersLater``).
///
/// The floor's rule exempts a switch made by the calling thread itself: that thread reached
/// the newest server before it sent its command. Asked on the thread that answers, the
/// exemption is wrong: the pipeline's reader thread can reach a new server itself (its
/// blocking fallback after NOSCRIPT) and then hand out answers to commands it did not send,
/// from the server it just left. With the pipeline on, ChaosSafetyTests saw 14 overlapping
/// tenures that way. So the call is judged in two steps: when its command is framed (on the
/// thread that chose the connection, where the exemption holds), and strictly from then on:
/// any switch after framing voids the grant.
public final class SwitchWitness: Sendable {
    private let start: Int
    /// The switch number when the command was framed; `notFramed` before, `switchedBefore`
    /// when a switch had already happened underneath by then.
    private let framedAt = Atomic<Int>(SwitchWitness.notFramed)
    private static let notFramed = -2
    private static let switchedBefore = -1

    /// - Parameter floor: read now, as the call begins.
    public init(_ floor: any FencingFloor) {
        start = floor.serverSwitches
    }

    /// The command is being framed for the connection that will send it (the store asks for
    /// its guardrails there): judged on this thread, as a blocking call would be.
    public func framed(_ floor: any FencingFloor) {
        let verdict = floor.switchedUnderneath(since: start) ? Self.switchedBefore : floor.serverSwitches
        framedAt.store(verdict, ordering: .releasing)
    }

    /// Whether the grant answered now may come from a server left since the call began.
    public func switchedUnderneath(_ floor: any FencingFloor) -> Bool {
        switch framedAt.load(ordering: .acquiring) {
        case Self.notFramed: return floor.switchedUnderneath(since: start)
        case Self.switchedBefore: return true
        case let number: return floor.serverSwitches != number
        }
    }
}
