public import BatonCore
import Glibc

/// One worker thread's connections to the nodes of a Redis Cluster (one per node, opened
/// lazily), and the rule that sends a command to the node owning its slot and follows the
/// cluster's redirections. Not thread-safe: each worker thread owns one (see ``PerThreadRedis``).
public final class ClusterRouter {
    public let map: ClusterSlotMap
    private var connections: [ClusterSlotMap.Host: RedisConnection] = [:]

    /// At most this many redirections per command: a slot being migrated answers one ASK,
    /// a failover one MOVED; more means the map keeps changing under us.
    static let redirectLimit = 5
    /// TRYAGAIN retries (20 ms apart) before the answer counts as the shard failing.
    static let tryAgainLimit = 3

    init(map: ClusterSlotMap) { self.map = map }

    /// This thread's connection to `host`.
    public func connection(to host: ClusterSlotMap.Host) -> RedisConnection {
        if let c = connections[host] { return c }
        // Bounded by the cluster's size; a runaway map is not allowed to grow it forever.
        if connections.count >= ClusterSlotMap.nodeLimit { connections.removeAll() }
        let c = RedisConnection(endpoint: map.endpoint(of: host), identity: map.identity(of: host), clusterNode: true)
        connections[host] = c
        return c
    }

    /// Runs a command on the master of `slot`, following `MOVED` (the slot lives elsewhere
    /// now: remember it, re-read the map soon) and `ASK` (the slot is being migrated and
    /// this key is already on the target: `ASKING` then the same command there, once).
    func command(slot: Int, building build: (String) -> RedisCommand) throws(BackendError) -> RedisReply {
        guard var target = map.owner(ofSlot: slot) else {
            throw BackendError(.connect, "no cluster master is known for slot \(slot): \(map.snapshot.lastError ?? "slot map empty")")
        }
        var asking = false
        var retries = 0
        for _ in 0...(Self.redirectLimit + Self.tryAgainLimit) {
            let c = connection(to: target)
            let reply: RedisReply
            do {
                if asking { _ = try c.command(["ASKING"]) }
                reply = try c.command(building: build)
            } catch {
                // The node is away or demoted: look at the map again soon.
                if error.kind != .misconfigured { map.suspect() }
                throw error
            }
            guard case .error(let message) = reply else { return reply }
            if message.hasPrefix("TRYAGAIN"), retries < Self.tryAgainLimit {
                // A script's keys are split by a slot migration in progress (some moved,
                // some not, or none yet): Redis asks to retry once the keys have moved, a
                // matter of milliseconds for a lease's two or three small keys.
                retries += 1
                usleep(20_000)
                continue
            }
            guard let redirect = Redirect(message, from: target) else { return reply }
            if redirect.ask {
                asking = true
            } else {
                asking = false
                map.moved(slot: redirect.slot, to: redirect.host)
            }
            target = redirect.host
        }
        throw BackendError(.server, "slot \(slot): more than \(Self.redirectLimit) cluster redirections (the slot map keeps changing)")
    }
}

/// `MOVED <slot> <host>:<port>` or `ASK <slot> <host>:<port>` (host may be empty: the node
/// that answered does not know its peer's name; then it is the one asked).
struct Redirect {
    let ask: Bool
    let slot: Int
    let host: ClusterSlotMap.Host

    init?(_ message: String, from: ClusterSlotMap.Host) {
        let words = message.split(separator: " ")
        guard words.count == 3, words[0] == "MOVED" || words[0] == "ASK", let slot = Int(words[1]),
              (0..<ClusterSlot.count).contains(slot), let colon = words[2].lastIndex(of: ":"),
              let port = Int(words[2][words[2].index(after: colon)...]), (1...65535).contains(port) else { return nil }
        var name = String(words[2][..<colon])
        if name.hasPrefix("[") && name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        ask = words[0] == "ASK"
        self.slot = slot
        host = ClusterSlotMap.Host(host: name.isEmpty ? from.host : name, port: port)
    }
}

/// A command for one key's slot, through this thread's ``ClusterRouter``.
public struct ClusterRoute: RedisCommanding {
    let router: ClusterRouter
    let slot: Int

    public func command(building build: (String) -> RedisCommand) throws(BackendError) -> RedisReply {
        try router.command(slot: slot, building: build)
    }
}
