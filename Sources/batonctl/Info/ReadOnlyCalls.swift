import ArgumentParser
import Foundation

/// Runs a read-only call; Baton errors become a message and an exit code.
func reading<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch BatonError.conflict(let why) {
        Log.info("Baton said no (HTTP 409): \(why)")
        throw ExitCode(Exit.skipped)
    } catch let error as BatonError {
        Log.info("\(error)")
        throw ExitCode(error.isUnavailable ? Exit.unavailable : Exit.error)
    }
}

/// The value or the error of one of several calls made side by side (`batonctl status`
/// shows what it could get and names what it could not).
struct Captured<T: Sendable>: Sendable {
    var value: T?
    var error: BatonError?
}

/// Runs `body`, keeping its error instead of throwing it.
func capture<T: Sendable>(_ body: @Sendable () async throws -> T) async -> Captured<T> {
    do {
        return Captured(value: try await body())
    } catch let error as BatonError {
        return Captured(error: error)
    } catch {
        return Captured(error: .unavailable(String(describing: error)))
    }
}
