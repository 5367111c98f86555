import ArgumentParser
import Foundation

struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Exit 0 if Baton answers GET /healthz with 200 (no token needed; for Docker HEALTHCHECK).",
        discussion: "Prints 'ok' (or the JSON answer with --json). Exit 69 when Baton is unreachable or unhealthy, 1 on any other answer.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let client = try BatonClient(baseURL: global.resolvedURL, token: nil, timeout: min(global.timeout.seconds, 5))
        let health = try await reading { try await client.health() }
        if global.json { try client.printRawJSON("getHealth") } else { printOut(health.status.rawValue) }
    }
}
