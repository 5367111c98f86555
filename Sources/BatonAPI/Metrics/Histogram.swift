/// A Prometheus histogram's counts (cumulative buckets are computed at render time).
struct Histogram {
    static let bounds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
    var counts = [Int](repeating: 0, count: Histogram.bounds.count + 1)  // last: +Inf
    var sum = 0.0
    var count = 0

    mutating func observe(_ seconds: Double) {
        var i = 0
        while i < Self.bounds.count && seconds > Self.bounds[i] { i += 1 }
        counts[i] += 1
        sum += seconds
        count += 1
    }

    /// Adds another histogram's counts (same bounds): routes sharing a pattern.
    mutating func add(_ other: Histogram) {
        for i in counts.indices { counts[i] += other.counts[i] }
        sum += other.sum
        count += other.count
    }

    func render(_ name: String, labels: String, into out: inout String) {
        var cumulative = 0
        for (i, bound) in Self.bounds.enumerated() {
            cumulative += counts[i]
            out += "\(name)_bucket{\(labels),le=\"\(bound)\"} \(cumulative)\n"
        }
        out += "\(name)_bucket{\(labels),le=\"+Inf\"} \(count)\n"
        out += "\(name)_sum{\(labels)} \(sum)\n"
        out += "\(name)_count{\(labels)} \(count)\n"
    }
}
