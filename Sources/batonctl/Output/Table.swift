import Foundation

/// A plain text table: a header row, columns padded to their widest cell.
struct Table {
    var headers: [String]
    var rows: [[String]] = []

    init(_ headers: String...) { self.headers = headers }

    mutating func add(_ cells: String...) { rows.append(cells) }
    mutating func add(_ cells: [String]) { rows.append(cells) }

    func render(indent: String = "") -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count {
                widths[i] = max(widths[i], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            var out = indent
            for (i, cell) in cells.enumerated() {
                let last = i == cells.count - 1
                out += last ? cell : cell.padding(toLength: widths[i] + 2, withPad: " ", startingAt: 0)
            }
            return out
        }
        var lines = [line(headers)]
        lines += rows.map(line)
        return lines.joined(separator: "\n")
    }
}
