import ArgumentParser
import Foundation

struct LeasesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leases",
        abstract: "Leases: current state and tenure history.",
        subcommands: [List.self, History.self],
        defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every known lease (GET /leases).")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let client = try global.client()
            let leases = try await reading { try await client.leases() }
            if global.json { try client.printRawJSON("listLeases"); return }
            printOut(StatusView.render(url: client.baseURL, status: nil, leases: leases.leases, tasks: nil, errors: [:])
                .trimmingCharacters(in: .newlines))
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A lease's tenures, newest first (GET /leases/{lease}/history).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: ArgumentHelp("The lease's name.", valueName: "lease"))
        var lease: String
        @Option(help: ArgumentHelp("At most this many tenures (1-1000).", valueName: "n"))
        var limit: Int = 20

        mutating func validate() throws {
            try Names.checkName(lease, "lease")
            guard (1...1000).contains(limit) else { throw ValidationError("--limit must be 1-1000") }
        }

        func run() async throws {
            let client = try global.client()
            let history = try await reading { try await client.leaseHistory(lease: lease, limit: limit) }
            if global.json { try client.printRawJSON("listLeaseHistory"); return }
            if history.tenures.isEmpty { printOut("no tenures of \(lease) recorded"); return }
            var t = Table("ACQUIRED", "HOLDER", "TOKEN", "TTL", "ENDED", "HOW", "LASTED")
            for r in history.tenures {
                let lasted = r.ended_at.map { Int64(($0.timeIntervalSince(r.acquired_at) * 1000).rounded()) }
                t.add(Format.shortTime(r.acquired_at), r.holder, String(r.fencing_token), Format.duration(ms: r.ttl_ms),
                      r.ended_at.map(Format.shortTime) ?? "(current)", r.end_reason?.rawValue ?? "-",
                      lasted.map { Format.duration(ms: $0) } ?? "-")
            }
            printOut(t.render())
        }
    }
}
