import ArgumentParser
import Foundation

struct LeaderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leader",
        abstract: "Look at or change one lease by hand.",
        subcommands: [Get.self, Watch.self, Acquire.self, Renew.self, Release.self])

    /// Shows the lease state either way; a refusal (409) then exits with `refused`.
    static func show(_ answer: Answer<Schemas.LeaseState>, json: Bool, client: BatonClient, operation: String, refused: Int32) throws {
        switch answer {
        case .ok(let s): try show(s, json: json, client: client, operation: operation)
        case .conflict(let s):
            try show(s, json: json, client: client, operation: operation)
            throw ExitCode(refused)
        }
    }

    static func show(_ s: Schemas.LeaseState, json: Bool, client: BatonClient, operation: String) throws {
        if json { try client.printRawJSON(operation); return }
        var t = Table("LEASE", "HOLDER", "LEADER", "TOKEN", "TIME LEFT", "TTL", "SINCE", "MODE")
        t.add(s.lease, s.holder ?? "(vacant)", s.leader ? "yes" : "no", s.fencing_token.map(String.init) ?? "-",
              Format.duration(ms: s.expires_in_ms), Format.duration(ms: s.ttl_ms), Format.shortTime(s.acquired_at), s.mode.rawValue)
        printOut(t.render())
    }

    struct LeaseOptions: ParsableArguments {
        @Option(help: ArgumentHelp("The lease's name.", valueName: "name"))
        var lease: String

        mutating func validate() throws { try Names.checkName(lease, "--lease") }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show who holds the lease (GET /leader).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: LeaseOptions

        func run() async throws {
            let client = try global.client()
            let state = try await reading { try await client.leader(lease: options.lease) }
            try LeaderCommand.show(state, json: global.json, client: client, operation: "getLeader")
        }
    }

    struct Acquire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Become (or stay) the leader (POST /leader). Exit 0 when leader, 75 when someone else leads.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: LeaseOptions
        @Option(help: ArgumentHelp("Lease TTL.", valueName: "duration"))
        var ttl: CLIDuration?

        func run() async throws {
            let holder = global.resolvedHolder
            try Names.checkHolder(holder)
            let client = try global.client()
            let answer = try await reading {
                try await client.acquire(lease: options.lease, holder: holder, ttlMs: ttl.map { Int($0.milliseconds) })
            }
            try LeaderCommand.show(answer, json: global.json, client: client, operation: "acquireLeadership", refused: Exit.skipped)
        }
    }

    struct Renew: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Extend this holder's tenure (POST /lease/renew). Exit 0 when renewed, 76 when the lease is no longer ours.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: LeaseOptions
        @Option(help: ArgumentHelp("Lease TTL.", valueName: "duration"))
        var ttl: CLIDuration?
        @Option(help: ArgumentHelp("Renew only if this is the current tenure's token.", valueName: "n"))
        var fencingToken: Int64?

        func run() async throws {
            let holder = global.resolvedHolder
            try Names.checkHolder(holder)
            let client = try global.client()
            let answer = try await reading {
                try await client.renew(lease: options.lease, holder: holder, ttlMs: ttl.map { Int($0.milliseconds) }, fencingToken: fencingToken)
            }
            try LeaderCommand.show(answer, json: global.json, client: client, operation: "renewLease", refused: Exit.lost)
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End this holder's tenure (POST /lease/release). Exit 0 when released or already vacant, 75 when someone else holds it.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: LeaseOptions
        @Option(help: ArgumentHelp("Release only if this is the current tenure's token.", valueName: "n"))
        var fencingToken: Int64?

        func run() async throws {
            let holder = global.resolvedHolder
            try Names.checkHolder(holder)
            let client = try global.client()
            let answer = try await reading {
                try await client.release(lease: options.lease, holder: holder, fencingToken: fencingToken)
            }
            switch answer {
            case .ok(let r):
                if global.json { try client.printRawJSON("releaseLease") } else { printOut(r.released ? "released \(r.lease)" : "\(r.lease) was already vacant") }
            case .conflict(let r):
                if global.json { try client.printRawJSON("releaseLease") } else { printOut("\(r.lease) is held by \(r.holder ?? "?") (token \(r.fencing_token.map(String.init) ?? "-")): not released") }
                throw ExitCode(Exit.skipped)
            }
        }
    }
}
