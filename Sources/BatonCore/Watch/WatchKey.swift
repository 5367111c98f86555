/// What a blocking read or an event stream waits on: one lease, one task, or every lease
/// or task (`GET /leases`, `GET /tasks`).
public enum WatchKey: Hashable, Sendable, CustomStringConvertible {
    case lease(LeaseName)
    case leases
    case task(TaskName)
    case tasks

    /// The keys a change of this one also changes (a lease belongs to the list of leases).
    public var affected: [WatchKey] {
        switch self {
        case .lease: return [self, .leases]
        case .task: return [self, .tasks]
        case .leases, .tasks: return [self]
        }
    }

    public var description: String {
        switch self {
        case .lease(let l): return "lease:\(l.value)"
        case .leases: return "leases"
        case .task(let t): return "task:\(t.value)"
        case .tasks: return "tasks"
        }
    }
}
