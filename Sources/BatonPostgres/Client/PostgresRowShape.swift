import BatonCore

extension PostgresRows {
    /// The rows, if each has at least `width` columns; otherwise the server answered a
    /// statement with something else than it asks for (a protocol error, never an index
    /// out of range in the decoding that follows).
    func rows(width: Int, of statement: String) throws(BackendError) -> [[String?]] {
        guard rows.allSatisfy({ $0.count >= width }) else {
            throw BackendError(.protocolError, "postgres \(statement): \(columns.count) columns, expected \(width)")
        }
        return rows
    }
}
