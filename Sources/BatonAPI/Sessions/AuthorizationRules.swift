/// Which of Jellyfin's rules for finding a request's token are in force (`BATON_LEGACY_AUTH`),
/// read from Jellyfin.Server.Implementations/Security/AuthorizationContext.cs of each version.
public enum AuthorizationRules: String, Sendable, CaseIterable {
    /// Jellyfin 10.9 and 10.10: every legacy form, and `X-Emby-Authorization` is read BEFORE
    /// `Authorization` (v10.10.7 GetAuthorizationDictionary). `BATON_LEGACY_AUTH=10.10`.
    case jellyfin10_10 = "10.10"
    /// Jellyfin 10.11 and 12.0 with `EnableLegacyAuthorization` on (10.11's default):
    /// `Authorization` first, then `X-Emby-Authorization`; `Emby` scheme, `X-Emby-Token`,
    /// `X-MediaBrowser-Token` and query `api_key` accepted. `BATON_LEGACY_AUTH=true` (default).
    case legacy = "true"
    /// `EnableLegacyAuthorization` off (12.0's default; its migration turns it off on
    /// upgrade): only `Authorization: MediaBrowser …` and query `ApiKey`. `BATON_LEGACY_AUTH=false`.
    case modern = "false"

    /// Whether the pre-12.0 forms (`Emby`, `X-Emby-*`, `X-MediaBrowser-Token`, `api_key`) count.
    public var acceptsLegacyForms: Bool { self != .modern }

    /// One line for the start-up log: which sources are read, in order.
    public var summary: String {
        switch self {
        case .jellyfin10_10:
            "Jellyfin 10.9/10.10 rules: body token, X-Emby-Authorization else Authorization (MediaBrowser|Emby), X-Emby-Token, X-MediaBrowser-Token, query ApiKey, api_key"
        case .legacy:
            "Jellyfin 10.11+ legacy rules (EnableLegacyAuthorization=true): body token, Authorization else X-Emby-Authorization (MediaBrowser|Emby), X-Emby-Token, X-MediaBrowser-Token, query ApiKey, api_key"
        case .modern:
            "Jellyfin 10.11+ rules without legacy (EnableLegacyAuthorization=false): body token, Authorization (MediaBrowser), query ApiKey"
        }
    }
}
