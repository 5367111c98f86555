/// Voiding a grant nobody was told of (see ``UnknownOutcomes`` and ``ReplicaWait``).
/// Kept apart from the claim and lease scripts: it only deletes what it created.
enum VoidScripts {
    /// KEYS[1] the claim hash; ARGV[1] the run id. Deletes the claim if it is still that
    /// run's and running (a completed run keeps its claim and slot mark). Answers 1 or 0.
    static let claim = LuaScript(name: "task_void", source: """
    local c = redis.call('HMGET', KEYS[1], 'run_id', 'state')
    if c[1] ~= ARGV[1] or c[2] ~= 'running' then return 0 end
    redis.call('DEL', KEYS[1])
    return 1
    """)
}
