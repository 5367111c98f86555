import BatonCore
import BatonHTTP
import BatonSupport

/// How domain values appear on the wire. Every documented key is always present (null
/// when unknown), so scripts can rely on `jq .holder` without checking for absence.
extension LeaseView {
    var json: JSONValue { .object(fields) }

    var fields: [(String, JSONValue)] {
        [
            ("lease", .string(lease.value)),
            ("holder", .string(holder?.value)),
            ("leader", .bool(leader)),
            ("acquired", .bool(acquired)),
            ("fencing_token", .int(fencingToken?.value)),
            ("ttl_ms", .int(ttlMs)),
            ("expires_in_ms", .int(expiresInMs)),
            ("acquired_at", .string(acquiredAtMs.map(Timestamp.rfc3339))),
            ("mode", .string(mode.rawValue)),
            ("reason", .string(reason?.rawValue)),
        ]
    }
}

extension LeaderElection.Release {
    var json: JSONValue { .object([("released", .bool(released))] + view.fields) }
}

extension ClaimView {
    var json: JSONValue {
        .object([
            ("task", .string(task.value)),
            ("claimed", .bool(claimed)),
            ("reason", .string(reason?.rawValue)),
            ("run_id", .string(runId)),
            ("holder", .string(holder?.value)),
            ("slot", .string(slot?.value)),
            ("fencing_token", .int(fencingToken?.value)),
            ("claimed_at", .string(claimedAtMs.map(Timestamp.rfc3339))),
            ("lock_at_most_ms", .int(lockAtMostMs)),
            ("lock_at_least_ms", .int(lockAtLeastMs)),
            ("expires_in_ms", .int(expiresInMs)),
            ("state", .string(state?.rawValue)),
            ("mode", .string(mode.rawValue)),
        ])
    }
}

extension CompletionView {
    var json: JSONValue {
        .object([
            ("task", .string(task.value)),
            ("run_id", .string(runId)),
            ("status", .string(status.rawValue)),
            ("recorded", .bool(recorded)),
            ("late", .bool(late)),
            ("mode", .string(mode.rawValue)),
            ("current", current?.json ?? .null),
        ])
    }
}

extension RunRecord {
    var json: JSONValue {
        let duration: Int64? = claimedAtMs.flatMap { c in finishedAtMs.map { max(0, $0 - c) } }
        return .object([
            ("run_id", .string(runId)),
            ("task", .string(task.value)),
            ("slot", .string(slot?.value)),
            ("holder", .string(holder.value)),
            ("fencing_token", .int(fencingToken?.value)),
            ("claimed_at", .string(claimedAtMs.map(Timestamp.rfc3339))),
            ("finished_at", .string(finishedAtMs.map(Timestamp.rfc3339))),
            ("status", .string(status.rawValue)),
            ("detail", .string(detail)),
            ("mode", .string(mode.rawValue)),
            ("late", .bool(late)),
            ("external", .bool(external)),
            ("duration_ms", .int(duration)),
        ])
    }
}

extension TenureHistoryEntry {
    var json: JSONValue {
        .object([
            ("lease", .string(record.lease.value)),
            ("holder", .string(record.holder.value)),
            ("fencing_token", .int(record.fencingToken.value)),
            ("acquired_at", .string(Timestamp.rfc3339(ms: record.acquiredAtMs))),
            ("ttl_ms", .int(record.ttlMs)),
            ("ended_at", .string(endedAtMs.map(Timestamp.rfc3339))),
            ("end_reason", .string(endReason?.rawValue)),
        ])
    }
}

extension TaskOverview {
    /// `GET /tasks`: every task with its claim and last run, and whether history answered.
    var json: JSONValue {
        let items: [JSONValue] = entries.map { e in
            .object([
                ("task", .string(e.task.value)),
                ("claim", e.claim.map { ClaimView(task: e.task, claimed: true, claim: $0).json } ?? .null),
                ("last_run", e.lastRun?.json ?? .null),
            ])
        }
        return .object([("tasks", .array(items)), ("history_available", .bool(historyAvailable))])
    }
}

extension TokenOwner {
    var json: JSONValue {
        .object([
            ("valid", .bool(true)),
            ("kind", .string(kind.rawValue)),
            ("user_id", .string(userId)),
            ("user_name", .string(userName)),
            ("is_admin", .bool(isAdmin)),
            ("device_id", .string(deviceId)),
            ("device_name", .string(deviceName)),
            ("app_name", .string(appName)),
            ("app_version", .string(appVersion)),
            ("api_key_name", .string(apiKeyName)),
        ])
    }
}
