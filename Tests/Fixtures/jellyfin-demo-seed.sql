-- Demo data for scripts/run (the same users and tokens as docker/demo): user "demo" on one device, user "disabled",
-- and one API key. Idempotent. The tokens are fixed so the README's curl walkthrough works.
INSERT INTO "Users" ("Id", "Username", "MustUpdatePassword", "AuthenticationProviderId", "PasswordResetProviderId",
    "InvalidLoginAttemptCount", "MaxActiveSessions", "SubtitleMode", "PlayDefaultAudioTrack", "DisplayMissingEpisodes",
    "DisplayCollectionsView", "EnableLocalPassword", "HidePlayedInLatest", "RememberAudioSelections",
    "RememberSubtitleSelections", "EnableNextEpisodeAutoPlay", "EnableAutoLogin", "EnableUserPreferenceAccess",
    "InternalId", "SyncPlayAccess", "RowVersion", "NormalizedUsername")
VALUES
    ('5f0e5a52-7d7c-4c39-9d6a-0b1d7a0c0001', 'demo', false, 'Jellyfin.Server.Implementations.Users.DefaultAuthenticationProvider',
     'Jellyfin.Server.Implementations.Users.DefaultPasswordResetProvider', 0, 0, 0, true, false, false, false, false, true, true,
     true, false, true, 1, 0, 0, 'DEMO'),
    ('5f0e5a52-7d7c-4c39-9d6a-0b1d7a0c0002', 'disabled', false, 'Jellyfin.Server.Implementations.Users.DefaultAuthenticationProvider',
     'Jellyfin.Server.Implementations.Users.DefaultPasswordResetProvider', 0, 0, 0, true, false, false, false, false, true, true,
     true, false, true, 2, 0, 0, 'DISABLED')
ON CONFLICT ("Id") DO NOTHING;

INSERT INTO "Permissions" ("UserId", "Kind", "Value", "RowVersion")
VALUES ('5f0e5a52-7d7c-4c39-9d6a-0b1d7a0c0002', 2, true, 0)
ON CONFLICT DO NOTHING;

INSERT INTO "Devices" ("UserId", "AccessToken", "AppName", "AppVersion", "DeviceName", "DeviceId", "IsActive",
    "DateCreated", "DateModified", "DateLastActivity")
SELECT '5f0e5a52-7d7c-4c39-9d6a-0b1d7a0c0001', '0123456789abcdef0123456789abcdef', 'Jellyfin Web', '10.11.0', 'Firefox',
       'demo-device-1', true, now(), now(), now()
WHERE NOT EXISTS (SELECT 1 FROM "Devices" WHERE "AccessToken" = '0123456789abcdef0123456789abcdef');

INSERT INTO "Devices" ("UserId", "AccessToken", "AppName", "AppVersion", "DeviceName", "DeviceId", "IsActive",
    "DateCreated", "DateModified", "DateLastActivity")
SELECT '5f0e5a52-7d7c-4c39-9d6a-0b1d7a0c0002', 'ffffffffffffffffffffffffffffffff', 'Jellyfin Android', '2.6.0', 'Phone',
       'demo-device-2', false, now(), now(), now()
WHERE NOT EXISTS (SELECT 1 FROM "Devices" WHERE "AccessToken" = 'ffffffffffffffffffffffffffffffff');

INSERT INTO "ApiKeys" ("DateCreated", "DateLastActivity", "Name", "AccessToken")
VALUES (now(), now(), 'baton-demo', 'fedcba9876543210fedcba9876543210')
ON CONFLICT ("AccessToken") DO NOTHING;
