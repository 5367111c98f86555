import BatonAPI
import BatonCore
import BatonHTTP
import BatonPostgres
import BatonRedis
import BatonSupport
internal import Glibc
import Synchronization

/// batond: wires configuration, backends, the domain and the HTTP server, then waits
/// for a termination signal and shuts down gracefully.
@main
enum Batond {
    static func main() {
        let config: Configuration
        do {
            switch try CommandLineArguments.parse(Array(CommandLine.arguments.dropFirst())) {
            case .help:
                print(CommandLineArguments.help, terminator: "")
                return
            case .version:
                print("batond \(BatonVersion.current)")
                return
            case .run(let flags):
                config = try Configuration.resolve(flags: flags, environment: ProcessEnvironment.variables())
            }
        } catch {
            fail("configuration error: \(error)")
        }
        Log.shared.withLock { $0 = Log(level: config.logLevel, format: config.logFormat) }
        Signals.prepare()

        let app: Application
        do {
            app = try Application(config: config)
        } catch {
            fail("configuration error: \(error)")
        }
        do {
            try app.start()
        } catch {
            fail("cannot start: \(error)")
        }
        let signal = Signals.waitForTermination()
        app.stop(reason: signal)
        exit(0)
    }

    static func fail(_ message: String) -> Never {
        Log.current.error(message)
        Log.standardError(Array("batond: \(message)\n".utf8))
        exit(2)
    }
}
