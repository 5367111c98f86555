import ArgumentParser
import BatonSupport
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@main
enum BatonctlMain {
    static func main() {
        let arguments = CommandLine.arguments
        // The guard process (see ChildProcess) must stay single threaded: it runs before
        // anything else starts.
        if GuardCommand.isInvocation(arguments) {
            GuardCommand.main(arguments)
        }
        _ = Glibc.signal(SIGPIPE, SIG_IGN)
        Task {
            await Batonctl.main()
            exit(0)
        }
        dispatchMain()
    }
}

struct Batonctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batonctl",
        abstract: "Talk to Baton: run commands under a lease or a task claim, and look at leases, tasks and history.",
        discussion: """
        ENVIRONMENT
          BATON_URL        Baton's base URL (--url), default http://127.0.0.1:8080
          BATON_TOKEN      API token (--token)
          BATON_HOLDER     holder name (--holder), default: the host name
          BATON_STATE_DIR  where failure counters live (--state-dir)
          JELLYFIN_API_KEY the jellyfin commands' API key (or --jellyfin-api-key-file;
                           never on the command line)

        \(Exit.helpText)

        EXAMPLES
          batonctl status
          batonctl lock --lease nightly-report --ttl 30s -- /usr/local/bin/report
          batonctl claim --task backup --slot "$(date -u +%Y-%m-%d)" -- ./backup.sh
          JELLYFIN_API_KEY=... batonctl jellyfin schedule   # sidecar beside each pod
          batonctl jellyfin status
        """,
        version: BatonVersion.current,
        subcommands: [
            StatusCommand.self, HealthCommand.self, LockCommand.self, ClaimCommand.self,
            LeaderCommand.self, TasksCommand.self, LeasesCommand.self, JellyfinCommand.self, RunsCommand.self,
        ])
}
