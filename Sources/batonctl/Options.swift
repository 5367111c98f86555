import ArgumentParser
import BatonSupport
import Foundation

/// A duration on the command line: a number with a unit, `1500ms`, `30s`, `5m`, `1h`,
/// `1d`, or several of them (`1m30s`). Decimals are allowed (`1.5s`).
struct CLIDuration: ExpressibleByArgument, Sendable, Hashable, CustomStringConvertible {
    var milliseconds: Int64

    init(milliseconds: Int64) { self.milliseconds = milliseconds }

    init?(argument: String) {
        guard let ms = CLIDuration.parse(argument) else { return nil }
        self.milliseconds = ms
    }

    static func parse(_ text: String) -> Int64? {
        let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        var rest = Substring(text.trimmingCharacters(in: .whitespaces).lowercased())
        guard !rest.isEmpty else { return nil }
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            // "ms" must be tried before "m".
            guard let (unit, factor) = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(unit.count)
            total += value * factor
        }
        guard total.isFinite, total >= 0, total < 1e15 else { return nil }
        return Int64(total.rounded())
    }

    var duration: Duration { .milliseconds(milliseconds) }
    var seconds: Double { Double(milliseconds) / 1000 }

    var description: String {
        let ms = milliseconds
        if ms % 3_600_000 == 0, ms > 0 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0, ms > 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }
}

/// Options every command takes. Flags win over the environment.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Baton's base URL (env BATON_URL; default http://127.0.0.1:8080).", valueName: "url"))
    var url: String?

    @Option(name: .long, help: ArgumentHelp("API token sent as 'Authorization: Bearer' (env BATON_TOKEN). Visible to every local user in the process list: prefer BATON_TOKEN or --token-file.", valueName: "token"))
    var token: String?

    @Option(name: .long, help: ArgumentHelp("File holding the API token (env BATON_TOKEN_FILE), e.g. a mounted Kubernetes Secret.", valueName: "path"))
    var tokenFile: String?

    @Option(name: .long, help: ArgumentHelp("Who is asking: lease holder / task runner (env BATON_HOLDER; default: the host name).", valueName: "name"))
    var holder: String?

    @Flag(name: .long, help: "Machine-readable JSON on stdout instead of tables.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Timeout of one HTTP request to Baton.", valueName: "duration"))
    var timeout: CLIDuration = CLIDuration(milliseconds: 10_000)

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    var resolvedURL: String {
        let value = url ?? environment["BATON_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://127.0.0.1:8080"
        return value.hasSuffix("/") ? String(value.dropLast()) : value
    }

    /// `--token`, else `--token-file`, else BATON_TOKEN, else BATON_TOKEN_FILE.
    var resolvedToken: String? {
        if let token, !token.isEmpty { return token }
        if let tokenFile, !tokenFile.isEmpty { return GlobalOptions.readToken(tokenFile) }
        if let env = environment["BATON_TOKEN"], !env.isEmpty { return env }
        if let file = environment["BATON_TOKEN_FILE"], !file.isEmpty { return GlobalOptions.readToken(file) }
        return nil
    }

    /// The token in `path`: its first line, without surrounding white space; nil when the
    /// file cannot be read or holds none.
    static func readToken(_ path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let first = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        return first.isEmpty ? nil : first
    }

    var resolvedHolder: String {
        if let holder, !holder.isEmpty { return holder }
        if let env = environment["BATON_HOLDER"], !env.isEmpty { return env }
        return GlobalOptions.hostName()
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        if gethostname(&buffer, buffer.count - 1) == 0 {
            let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !name.isEmpty { return name }
        }
        return ProcessInfo.processInfo.hostName
    }

    mutating func validate() throws {
        guard URL(string: resolvedURL)?.scheme?.hasPrefix("http") == true else {
            throw ValidationError("--url / BATON_URL must be an http:// or https:// URL, got '\(resolvedURL)'")
        }
        guard timeout.milliseconds >= 100 else { throw ValidationError("--timeout must be at least 100ms") }
        let file = tokenFile.flatMap { $0.isEmpty ? nil : $0 }
            ?? (token?.isEmpty == false || environment["BATON_TOKEN"]?.isEmpty == false ? nil : environment["BATON_TOKEN_FILE"])
        if let file, !file.isEmpty, GlobalOptions.readToken(file) == nil {
            throw ValidationError("\(tokenFile != nil ? "--token-file" : "BATON_TOKEN_FILE") '\(file)': cannot read a token from it")
        }
        if let token, !token.isEmpty {
            Log.warn("--token is visible to every local user in the process list; use BATON_TOKEN or --token-file")
        }
    }

    /// A client whose requests time out after `timeout` (or the given override).
    func client(timeout override: CLIDuration? = nil) throws -> BatonClient {
        try BatonClient(baseURL: resolvedURL, token: resolvedToken, timeout: (override ?? timeout).seconds)
    }
}

enum Names {
    // The rules are Baton's own (BatonSupport.NameRule), so batonctl refuses locally
    // exactly what the server would answer 400 to.
    static func isName(_ value: String) -> Bool { NameRule.resource.accepts(value) }
    static func isHolder(_ value: String) -> Bool { NameRule.holder.accepts(value) }

    static func checkName(_ value: String, _ option: String) throws {
        guard isName(value) else {
            throw ValidationError("\(option) '\(value)' is not a valid name: 1-128 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit")
        }
    }

    static func checkHolder(_ value: String) throws {
        guard isHolder(value) else {
            throw ValidationError("holder '\(value)' is not valid: 1-253 characters of A-Z a-z 0-9 . _ : @ / - starting with a letter or digit (set --holder or BATON_HOLDER)")
        }
    }
}

enum UnavailablePolicy: String, ExpressibleByArgument, Sendable, CaseIterable {
    case run, skip
}

/// Options of the commands that run something under a lease or claim.
struct RunPolicyOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Exit code when the command is skipped (not leader, held, slot done, recently completed).", valueName: "code"))
    var skippedExit: Int32 = Exit.skipped

    @Option(name: .long, help: ArgumentHelp("""
        When Baton is unreachable (connect error, timeout, 5xx) --breaker-threshold times in a row \
        (counted across runs): 'run' the command anyway, without coordination (loudly), or 'skip' (exit 69). \
        Below the threshold batonctl always exits 69.
        """, valueName: "run|skip"))
    var onUnavailable: UnavailablePolicy = .run

    @Option(name: .long, help: ArgumentHelp("Consecutive failures to reach Baton before --on-unavailable applies.", valueName: "n"))
    var breakerThreshold: Int = 3

    @Option(name: .long, help: ArgumentHelp("Where the failure counters live (env BATON_STATE_DIR; default $XDG_STATE_HOME/batonctl or ~/.local/state/batonctl, else $TMPDIR/batonctl-UID).", valueName: "dir"))
    var stateDir: String?

    @Option(name: .long, help: ArgumentHelp("Time between SIGTERM and SIGKILL when the command must stop (default: min(5s, period/6)).", valueName: "duration"))
    var grace: CLIDuration?

    @Flag(name: .long, help: "Hand the Baton API token to the command as BATON_TOKEN (by default it gets none).")
    var passToken = false

    /// The token for the command's environment: only with `--pass-token`.
    func tokenForChild(_ global: GlobalOptions) -> String? { passToken ? global.resolvedToken : nil }

    mutating func validate() throws {
        guard (0...255).contains(skippedExit) else { throw ValidationError("--skipped-exit must be 0-255") }
        guard breakerThreshold >= 1 else { throw ValidationError("--breaker-threshold must be at least 1") }
    }

    func breaker(key: String) -> ClientBreaker {
        ClientBreaker(directory: ClientBreaker.directory(explicit: stateDir), key: key, threshold: breakerThreshold)
    }
}
