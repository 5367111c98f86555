public import BatonCore

/// What batond found when it looked at its Redis server: what it is, and what batond may
/// and may not do there. Run at start-up (one summary line) and every 30 s for `/status`.
public struct RedisServerCheck: Sendable {
    /// `standalone`, `sentinel` or `cluster` (INFO redis_mode), "" when INFO is denied.
    public var serverMode = ""
    /// ROLE's first word (`master`), "" when ROLE is denied.
    public var role = ""
    public var version: String?
    public var runId: String?
    public var maxmemoryPolicy: String?
    /// INFO replication's `master_repl_offset`.
    public var replicationOffset: Int64?
    /// Commands (and why) the ACL refuses; empty when everything batond sends is allowed.
    public var aclDenied: [String] = []
    public var infoAllowed = true
    public var configAllowed = true
    /// The server refuses batond as configured: every call will be a 503 with this code.
    public var misconfiguration: BackendError?
    /// The server could not be reached at all.
    public var unreachable: BackendError?

    /// Any policy but `noeviction` may evict lease keys (they all have TTLs, which is what
    /// `volatile-*` picks from): a live lease could vanish and be granted again.
    public var mayEvictLeases: Bool { maxmemoryPolicy.map { $0 != "noeviction" } ?? false }

    /// What an operator should know, one sentence each.
    public var warnings: [String] {
        var w: [String] = []
        if let m = misconfiguration, let what = m.misconfiguration {
            w.append("\(what.rawValue): \(what.fix) (\(m.message.prefix(160)))")
        }
        if !aclDenied.isEmpty {
            w.append("redis_acl_denied: the Redis ACL refuses \(aclDenied.joined(separator: "; ")); those calls answer 503 \(Misconfiguration.aclDenied.rawValue)")
        }
        if !infoAllowed {
            w.append("redis INFO is denied: batond cannot read the server's run_id, so restarts and failovers are not detected (no recovery window; only this process's fencing floor keeps tokens from going back) and /status shows no version; allow +info")
        }
        if !configAllowed {
            w.append("redis CONFIG GET is denied: batond cannot check maxmemory-policy (must be noeviction); allow +config|get or check it yourself")
        }
        if unreachable == nil, misconfiguration == nil, role.isEmpty {
            w.append("redis ROLE is denied: batond cannot confirm it writes to a master on each new connection; a replica is noticed only by READONLY; allow +role")
        }
        return w
    }

    /// Looks at the server through the calling thread's connection.
    public static func run(_ redis: PerThreadRedis) -> RedisServerCheck {
        var r = RedisServerCheck()
        let c = redis.checkConnection
        do throws(BackendError) {
            switch try c.command(["INFO", "server"]) {
            case .error: r.infoAllowed = false
            case let info:
                let f = RedisConnection.fields(ofInfo: info.string ?? "")
                r.version = f["redis_version"]
                r.runId = f["run_id"]
            }
        } catch where error.misconfiguration == .aclDenied || error.misconfiguration == .unknownCommand {
            r.infoAllowed = false
        } catch where error.kind == .misconfigured {
            r.misconfiguration = error
            return r
        } catch {
            r.unreachable = error
            return r
        }
        r.serverMode = c.serverMode
        r.role = c.serverRole
        if r.infoAllowed, let repl = try? c.command(["INFO", "replication"]).string {
            r.replicationOffset = RedisConnection.fields(ofInfo: repl)["master_repl_offset"].flatMap { Int64($0) }
        }
        do throws(BackendError) {
            // CONFIG may be renamed or forbidden on managed Redis; then the policy is unknown.
            if case .array(let kv) = try c.command(["CONFIG", "GET", "maxmemory-policy"]), kv.count == 2 {
                r.maxmemoryPolicy = kv[1].string
            }
        } catch where error.kind == .misconfigured {
            r.configAllowed = false
        } catch {}
        do throws(BackendError) {
            r.aclDenied = try RedisACLProbe.run(on: redis.route(forKey: RedisACLProbe.keys[0]))
        } catch where error.kind == .misconfigured {
            r.misconfiguration = error
        } catch {
            r.unreachable = error
        }
        return r
    }
}
