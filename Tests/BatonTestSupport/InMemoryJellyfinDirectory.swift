import BatonCore
import Synchronization

/// Jellyfin's auth tables in memory, answering as JellyfinTokenDirectory's query does
/// (Sources/BatonPostgres/Jellyfin/JellyfinTokenDirectory.swift): a device token first,
/// then an API key; admin and disabled from the user's permissions; API keys act as
/// administrator. Tests/BatonIntegrationTests/TokenLookupBehaviourTests runs one suite
/// against this and the real tables.
public final class InMemoryJellyfinDirectory: TokenDirectory {
    private struct User { var name: String; var admin: Bool; var disabled: Bool }
    private struct Device { var userId: String; var deviceId: String; var deviceName: String; var appName: String; var appVersion: String }

    private struct State {
        var users: [String: User] = [:]
        var devices: [String: Device] = [:]
        var apiKeys: [String: String] = [:]
        var next = 0
    }

    private let state = Mutex(State())
    public init() {}

    /// A token of Jellyfin's form (32 lower-case hex digits, letters among them), unique here.
    private static func token(_ n: Int) -> String {
        let hex = String(n, radix: 16)
        return "abcdef" + String(repeating: "0", count: 26 - hex.count) + hex
    }

    @discardableResult
    public func addUser(_ name: String, admin: Bool = false, disabled: Bool = false) -> String {
        state.withLock { s in
            s.next += 1
            let id = "00000000-0000-4000-8000-" + Self.token(s.next).suffix(12)
            s.users[id] = User(name: name, admin: admin, disabled: disabled)
            return id
        }
    }

    @discardableResult
    public func addDevice(userId: String, deviceId: String = "dev-1", deviceName: String = "Firefox",
                          appName: String = "Jellyfin Web", appVersion: String = "10.11.0") -> String {
        state.withLock { s in
            s.next += 1
            let t = Self.token(s.next)
            s.devices[t] = Device(userId: userId, deviceId: deviceId, deviceName: deviceName, appName: appName, appVersion: appVersion)
            return t
        }
    }

    @discardableResult
    public func addApiKey(_ name: String) -> String {
        state.withLock { s in
            s.next += 1
            let t = Self.token(s.next)
            s.apiKeys[t] = name
            return t
        }
    }

    public func owner(of token: String) throws(BackendError) -> TokenOwner? {
        // libpq takes C strings, so JellyfinTokenDirectory answers nil for a token with a NUL.
        guard !token.utf8.contains(0) else { return nil }
        return state.withLock { s in
            if let d = s.devices[token], let u = s.users[d.userId] {
                return TokenOwner(kind: .device, userId: d.userId, userName: u.name, isAdmin: u.admin, isDisabled: u.disabled,
                                  deviceId: d.deviceId, deviceName: d.deviceName, appName: d.appName, appVersion: d.appVersion)
            }
            if let name = s.apiKeys[token] {
                return TokenOwner(kind: .apiKey, userId: nil, userName: nil, isAdmin: true, isDisabled: false, apiKeyName: name)
            }
            return nil
        }
    }
}
