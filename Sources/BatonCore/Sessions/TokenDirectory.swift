/// Who a Jellyfin token belongs to, as Jellyfin's own authentication would see it.
public struct TokenOwner: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// A user's login: `Devices.AccessToken`.
        case device
        /// An API key: `ApiKeys.AccessToken`; acts as administrator.
        case apiKey = "api_key"
    }

    public let kind: Kind
    public let userId: String?
    public let userName: String?
    public let isAdmin: Bool
    public let isDisabled: Bool
    public let deviceId: String?
    public let deviceName: String?
    public let appName: String?
    public let appVersion: String?
    public let apiKeyName: String?

    public init(kind: Kind, userId: String?, userName: String?, isAdmin: Bool, isDisabled: Bool,
                deviceId: String? = nil, deviceName: String? = nil, appName: String? = nil,
                appVersion: String? = nil, apiKeyName: String? = nil) {
        self.kind = kind
        self.userId = userId
        self.userName = userName
        self.isAdmin = isAdmin
        self.isDisabled = isDisabled
        self.deviceId = deviceId
        self.deviceName = deviceName
        self.appName = appName
        self.appVersion = appVersion
        self.apiKeyName = apiKeyName
    }
}

/// Looks tokens up where Jellyfin keeps them: Devices first, then ApiKeys.
public protocol TokenDirectory: Sendable {
    /// The owner of `token`, or nil when no device or API key has it.
    func owner(of token: String) throws(BackendError) -> TokenOwner?
}
