/// A Redis answer that means "set up wrong", not "down": wrong password, an ACL that
/// forbids what batond sends, a sentinel or a replica or a cluster node where a master
/// was expected, a full memory limit.
///
/// Such an answer must never tell every caller to lead (the breaker's degraded grant is
/// for outages only): it is a 503 whose `code` is ``rawValue`` and whose detail says what
/// to fix. The cases are the whole label set of
/// `baton_redis_misconfiguration_answers_total{code}`.
public enum Misconfiguration: String, Sendable, CaseIterable {
    /// WRONGPASS, or AUTH sent to a server without a password.
    case authFailed = "redis_auth_failed"
    /// NOAUTH: the server wants a password and BATON_REDIS_URL has none.
    case authRequired = "redis_auth_required"
    /// NOPERM, or a script's command or key refused by the ACL.
    case aclDenied = "redis_acl_denied"
    /// `ERR unknown command` (renamed or disabled command, or not a Redis data server).
    case unknownCommand = "redis_unknown_command"
    /// The URL names a Sentinel, not a master.
    case isSentinel = "redis_is_sentinel"
    /// The URL names a replica (ROLE slave, or READONLY outside Sentinel mode).
    case isReplica = "redis_is_replica"
    /// A Redis Cluster node (MOVED/ASK, or `cluster_enabled`) behind a redis:// URL.
    case clusterMode = "redis_cluster_mode"
    /// A host of a redis-cluster:// URL is not in cluster mode.
    case notCluster = "redis_not_cluster"
    /// SELECT refused: database index out of range.
    case badDatabase = "redis_bad_database"
    /// A sentinel of a redis-sentinel:// URL monitors no master by that name.
    case sentinelUnknownMaster = "redis_sentinel_unknown_master"
    /// A host of a redis-sentinel:// URL is not a Sentinel.
    case notSentinel = "redis_not_sentinel"
    /// WAIT: fewer replicas than BATON_REDIS_WAIT_REPLICAS acknowledged a grant in time
    /// (the grant was voided). The master answers, so this is no reason to grant everyone.
    case replicasBehind = "redis_wait_replicas"
    /// -OOM: maxmemory reached with noeviction; writes are refused until memory is freed.
    case outOfMemory = "redis_oom"

    /// What an operator should do, in one sentence.
    public var fix: String {
        switch self {
        case .authFailed: return "the password (or user) in BATON_REDIS_URL is wrong: fix it or the server's requirepass/ACL user"
        case .authRequired: return "the server requires a password: put it in BATON_REDIS_URL (redis://user:password@host:port/db)"
        case .aclDenied: return "the ACL user lacks a command or key batond needs: grant the minimal ACL in docker/README.md (Redis HA)"
        case .unknownCommand: return "the server does not know a command batond sends (renamed, disabled, or not a Redis data server): point BATON_REDIS_URL at a Redis master"
        case .isSentinel: return "BATON_REDIS_URL points at a Sentinel: use redis-sentinel://host:26379,.../db#master-name"
        case .isReplica: return "BATON_REDIS_URL points at a replica: point it at the master, or use redis-sentinel:// to follow failovers"
        case .clusterMode: return "the server is a Redis Cluster node: use BATON_REDIS_URL=redis-cluster://node1:6379,node2:6379 so batond routes by slot and follows MOVED/ASK"
        case .notCluster: return "a host in the redis-cluster:// URL is not a Redis Cluster node (cluster-enabled no): use redis:// or redis-sentinel:// for it"
        case .badDatabase: return "the database number in BATON_REDIS_URL does not exist on the server (databases setting; Cluster has only db 0)"
        case .sentinelUnknownMaster: return "the sentinels monitor no master by the name after # in BATON_REDIS_URL: use the name of 'sentinel monitor <name> ...'"
        case .notSentinel: return "a host in the redis-sentinel:// URL is not a Sentinel: list the sentinels' addresses (port 26379 by default), not the master's"
        case .replicasBehind: return "fewer replicas than BATON_REDIS_WAIT_REPLICAS confirmed the grant within BATON_REDIS_WAIT_MS: check the replicas and their lag, or lower BATON_REDIS_WAIT_REPLICAS"
        case .outOfMemory: return "Redis reached maxmemory and refuses writes: raise maxmemory or free memory (keep maxmemory-policy noeviction)"
        }
    }
}
