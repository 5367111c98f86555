import BatonCore

/// The lease scripts' replies (see ``LeaseScripts``) decoded into results, apart from the
/// connection so that malformed replies can be fed in by hand. Anything but the documented
/// shapes is a protocol error: a reply from the network never crashes the process.
enum LeaseReplies {

    /// `{3, retry_after}`, or `{code, tenure…[, previous holder]}` with 1 acquired,
    /// 2 renewed, 0 held by another.
    static func acquire(_ reply: RedisReply) throws(BackendError) -> AcquireResult {
        let r = try items(reply, script: "acquire")
        switch r[0].integer {
        case 3: return .recovering(retryAfterMs: Int(r.count > 1 ? r[1].integer ?? 0 : 0))
        case 1: return .acquired(try required(r, script: "acquire"), previousHolder: r.count > 6 ? r[6].string.flatMap(Holder.init) : nil)
        case 2: return .renewed(try required(r, script: "acquire"))
        case 0: return .heldByOther(try required(r, script: "acquire"))
        default: throw unknownCode(r, script: "acquire")
        }
    }

    /// `{1, tenure…}` renewed; `{0[, tenure…]}` not held (by another, or by nobody).
    static func renew(_ reply: RedisReply) throws(BackendError) -> RenewResult {
        let r = try items(reply, script: "renew")
        switch r[0].integer {
        case 1: return .renewed(try required(r, script: "renew"))
        case 0: return .notHeld(try tenure(r))
        default: throw unknownCode(r, script: "renew")
        }
    }

    /// `{1, tenure…}` released, `{2}` vacant, `{0, tenure…}` held by another.
    static func release(_ reply: RedisReply) throws(BackendError) -> ReleaseResult {
        let r = try items(reply, script: "release")
        switch r[0].integer {
        case 1: return .released(try required(r, script: "release"))
        case 2: return .vacant
        case 0: return .heldByOther(try required(r, script: "release"))
        default: throw unknownCode(r, script: "release")
        }
    }

    /// `{1, tenure…}` held, `{0}` vacant.
    static func state(_ reply: RedisReply) throws(BackendError) -> Tenure? {
        let r = try items(reply, script: "state")
        switch r[0].integer {
        case 1: return try required(r, script: "state")
        case 0: return try tenure(r)
        default: throw unknownCode(r, script: "state")
        }
    }

    /// A non-empty array whose first element is the integer code.
    static func items(_ reply: RedisReply, script: String) throws(BackendError) -> [RedisReply] {
        guard let items = reply.array, !items.isEmpty, items[0].integer != nil else {
            throw BackendError(.protocolError, "script \(script): unexpected reply")
        }
        return items
    }

    /// `{code, holder, token, acquired_at, ttl, pttl}` to a tenure; nil for `{code}`.
    static func tenure(_ r: [RedisReply]) throws(BackendError) -> Tenure? {
        guard r.count > 1 else { return nil }
        guard r.count >= 6, let h = r[1].string.flatMap(Holder.init), let token = r[2].integer,
              let at = r[3].integer, let ttl = r[4].integer, let pttl = r[5].integer,
              let ttlMs = Int(exactly: ttl), let expiresInMs = Int(exactly: max(0, pttl)) else {
            throw BackendError(.protocolError, "lease script: malformed tenure")
        }
        return Tenure(holder: h, fencingToken: FencingToken(token), acquiredAtMs: at, ttlMs: ttlMs, expiresInMs: expiresInMs)
    }

    /// The tenure a code promises; its absence is a protocol error.
    private static func required(_ r: [RedisReply], script: String) throws(BackendError) -> Tenure {
        guard let t = try tenure(r) else {
            throw BackendError(.protocolError, "script \(script): code \(r[0].integer ?? -1) without a tenure")
        }
        return t
    }

    private static func unknownCode(_ r: [RedisReply], script: String) -> BackendError {
        BackendError(.protocolError, "script \(script): unknown code \(r[0].integer ?? -1)")
    }
}
