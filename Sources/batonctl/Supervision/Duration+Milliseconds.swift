/// Whole milliseconds of a Duration, truncated (timeouts and deadlines are in ms).
extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
