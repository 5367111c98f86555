public import BatonCore

/// `POST /leader` through the shared pipelined connection (``RedisPipeline``): the worker
/// thread writes the acquire script's call and goes on; the reply completes the request on
/// the pipeline's reader thread.
extension RedisLeaseStore {
    /// Whether acquires go through the pipeline: there is one (not under Cluster or
    /// Sentinel), and grants need no `WAIT` (which would hold up every command behind it).
    public var answersLater: Bool { redis.pipeline != nil && wait == nil }

    public func acquire(_ lease: LeaseName, holder: Holder, ttlMs: Int, guardrails: @escaping @Sendable () -> Guardrails,
                        completion: @escaping @Sendable (Result<AcquireResult, BackendError>) -> Void) {
        let script = LeaseScripts.acquire
        let store = self
        // The blocking path, for what the pipeline does not take and for what it lost: it
        // reconnects, follows the rules of RedisConnection.command(building:) and runs EVAL
        // when the server does not have the script yet.
        let blocking: @Sendable () -> Void = {
            do throws(BackendError) {
                completion(.success(try store.acquire(lease, holder: holder, ttlMs: ttlMs, guardrails: guardrails)))
            } catch {
                completion(.failure(error))
            }
        }
        guard answersLater, let pipeline = redis.pipeline else { return blocking() }
        // The blocking acquire's call, with the guardrails asked once the server is known.
        let command: @Sendable (String) -> RedisCommand = { runId in
            script.evalsha(keyCount: 2, keys: { RedisKeys.appendLeaseKeys(lease, to: &$0) }, args: { command, runId in
                RedisLeaseStore.appendAcquireArguments(to: &command, holder: holder, ttlMs: ttlMs, guardrails: guardrails(), serverRunId: runId)
            }, serverRunId: runId)
        }
        // The reply, on the pipeline's reader thread: nothing here may wait long, or every
        // reply behind it waits too.
        @Sendable func answer(_ reply: Result<RedisReply, BackendError>, retried: Bool) {
            switch reply {
            case .success(.error(let message)) where message.hasPrefix("NOSCRIPT"):
                // The server does not have the script (a restart, a failover): one EVAL on the
                // blocking path caches it; Redis is up and answering.
                blocking()
            case .success(.error(let message)):
                completion(.failure(BackendError(.protocolError, "script \(script.name): \(message.prefix(200))")))
            case .success(let r):
                do throws(BackendError) { completion(.success(try LeaseReplies.acquire(r))) } catch { completion(.failure(error)) }
            case .failure(let error) where error.kind == .io && !retried:
                // The connection broke under it (a Redis restart, an idle timeout): once more on
                // a fresh one, as a connection of one's own retries an I/O error. The script is
                // idempotent for its holder: a second run renews what the first granted. When
                // the pipeline cannot send it yet (a writer may still be finishing with the
                // broken connection: StoreBehaviourTests saw the restart's error surface), the
                // blocking path does. An I/O error is a broken or refused connection, not a hung
                // server, so that call does not hold this reader thread for long.
                if !pipeline.send(command, completion: { answer($0, retried: true) }) { blocking() }
            case .failure(let error):
                completion(.failure(error))
            }
        }
        if !pipeline.send(command, completion: { answer($0, retried: false) }) { blocking() }
    }
}
