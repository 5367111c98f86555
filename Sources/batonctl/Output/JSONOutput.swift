import Foundation

enum JSON {
    /// Prints a JSONSerialization object (NSNull for null), pretty with sorted keys.
    static func printObject(_ object: Any) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
        printOut(String(decoding: data, as: UTF8.self))
    }
}
