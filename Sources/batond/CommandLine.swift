import BatonCore
import BatonSupport

/// batond's command line: `--flag value` or `--flag=value` for every setting, plus
/// `--help` and `--version`. The flags come from ``Configuration/settings`` so the help,
/// the flags and the environment variables cannot drift apart.
enum CommandLineArguments {
    enum Parsed {
        case run(flags: [String: String])
        case help
        case version
    }

    struct UsageError: Error, CustomStringConvertible {
        let description: String
    }

    static func parse(_ args: [String]) throws -> Parsed {
        var flags: [String: String] = [:]
        var i = 0
        while i < args.count {
            let arg = args[i]
            if arg == "--help" || arg == "-h" { return .help }
            if arg == "--version" { return .version }
            guard arg.hasPrefix("--") else { throw UsageError(description: "unexpected argument '\(arg)'; see batond --help") }
            var name = String(arg.dropFirst(2))
            var value: String?
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            guard Configuration.settings.contains(where: { $0.flag == name }) else {
                throw UsageError(description: "unknown option --\(name); see batond --help")
            }
            if value == nil {
                i += 1
                guard i < args.count else { throw UsageError(description: "--\(name) needs a value") }
                value = args[i]
            }
            flags[name] = value
            i += 1
        }
        return .run(flags: flags)
    }

    static var help: String {
        var s = """
        batond \(BatonVersion.current) — leader election, run-once task claims and Jellyfin session
        validation for replicated Jellyfin, over Redis and PostgreSQL.

        USAGE: batond [--option value ...]

        Every option can also be set through its environment variable; a flag wins over
        the variable. A value that cannot be used stops start-up with a message naming it.

        OPTIONS:

        """
        let width = Configuration.settings.map { $0.flag.count }.max()! + 4
        for setting in Configuration.settings {
            let flag = "--\(setting.flag)"
            s += "  \(flag)\(String(repeating: " ", count: width - flag.count))\(setting.variable)\n"
            s += "  \(String(repeating: " ", count: width))\(setting.help)\n"
        }
        s += """
          --help              show this help
          --version           print the version

        Signals: SIGTERM or SIGINT stop accepting connections, finish in-flight requests,
        flush the history outbox and exit 0 within 10 seconds.

        """
        return s
    }
}
