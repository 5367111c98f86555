extension StringProtocol {
    /// Without leading and trailing spaces and tabs (Unicode whitespace that is not a line
    /// break), as Foundation's `trimmingCharacters(in: .whitespaces)` trimmed.
    public func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0.isWhitespace && !$0.isNewline }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return String(self[first...last])
    }
}
