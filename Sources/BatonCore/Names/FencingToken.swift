/// A number that grows with every new tenure of a lease (or every new claim of a task).
///
/// Whoever acts on a shared resource passes it along; the resource rejects a token lower
/// than one it has seen, so a paused former leader cannot overwrite a newer leader's work.
public struct FencingToken: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let value: Int64
    public init(_ value: Int64) { self.value = value }
    public static func < (a: FencingToken, b: FencingToken) -> Bool { a.value < b.value }
    public var description: String { String(value) }
}
