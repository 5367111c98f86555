public import BatonCore

/// Something that runs one Redis command and names the server that runs it: a
/// ``RedisConnection``, or a ``ClusterRoute`` that picks the node owning a key's slot.
public protocol RedisCommanding {
    /// Runs the command `build` makes, given the `run_id` of the server that will run it.
    func command(building build: (_ serverRunId: String) -> RedisCommand) throws(BackendError) -> RedisReply
}

extension RedisCommanding {
    /// Runs one command from its words.
    public func command(words: [String]) throws(BackendError) -> RedisReply {
        let packed = RedisCommand(words)
        return try command { _ in packed }
    }
}

extension RedisConnection: RedisCommanding {}
