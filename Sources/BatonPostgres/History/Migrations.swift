import BatonCore

/// Baton's own schema (`baton`), versioned. Applied at start-up, and retried by the
/// history writer until PostgreSQL is reachable. Several replicas starting together
/// serialize on a transaction-scoped advisory lock, so each migration runs once.
public enum Migrations {
    /// (version, SQL). Append only; never edit a shipped migration.
    static let steps: [(Int, StaticString)] = [
        (1, """
        CREATE TABLE IF NOT EXISTS baton.lease_tenures (
            lease          text        NOT NULL,
            fencing_token  bigint      NOT NULL,
            holder         text        NOT NULL,
            acquired_at    timestamptz NOT NULL,
            ttl_ms         integer     NOT NULL,
            ended_at       timestamptz,
            end_reason     text CHECK (end_reason IN ('released', 'expired')),
            PRIMARY KEY (lease, fencing_token)
        );
        CREATE TABLE IF NOT EXISTS baton.task_runs (
            run_id         uuid        PRIMARY KEY,
            task           text        NOT NULL,
            slot           text,
            holder         text        NOT NULL,
            fencing_token  bigint,
            claimed_at     timestamptz,
            finished_at    timestamptz,
            status         text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
            detail         text,
            mode           text        NOT NULL CHECK (mode IN ('normal', 'degraded')),
            late           boolean     NOT NULL DEFAULT false
        );
        CREATE INDEX IF NOT EXISTS task_runs_by_task ON baton.task_runs (task, (COALESCE(claimed_at, finished_at)) DESC);
        CREATE INDEX IF NOT EXISTS task_runs_by_slot ON baton.task_runs (task, slot) WHERE slot IS NOT NULL;
        """),
        // How long each claim may last, so a restarted Baton knows which claims may still
        // be believed live after Redis lost its data.
        (2, """
        ALTER TABLE baton.task_runs ADD COLUMN IF NOT EXISTS lock_at_most_ms integer;
        """),
        // Shared schedules (PUT /schedules/{task}): the current revision per task, every
        // revision with its triggers, and runs reported after the fact (POST /tasks/{task}/runs).
        (3, """
        ALTER TABLE baton.task_runs ADD COLUMN IF NOT EXISTS external boolean NOT NULL DEFAULT false;
        CREATE TABLE IF NOT EXISTS baton.schedule_revisions (
            task           text        NOT NULL,
            revision       integer     NOT NULL,
            saved_at       timestamptz NOT NULL,
            saved_by       text        NOT NULL,
            note           text,
            PRIMARY KEY (task, revision)
        );
        CREATE TABLE IF NOT EXISTS baton.schedule_triggers (
            task           text        NOT NULL,
            revision       integer     NOT NULL,
            position       integer     NOT NULL,
            kind           text        NOT NULL CHECK (kind IN ('interval', 'daily', 'weekly', 'startup')),
            interval_ms    bigint,
            time_of_day_ms bigint,
            day_of_week    text,
            max_runtime_ms bigint,
            PRIMARY KEY (task, revision, position),
            FOREIGN KEY (task, revision) REFERENCES baton.schedule_revisions (task, revision)
        );
        CREATE TABLE IF NOT EXISTS baton.schedules (
            task           text        PRIMARY KEY,
            revision       integer     NOT NULL,
            first_saved_at timestamptz NOT NULL,
            FOREIGN KEY (task, revision) REFERENCES baton.schedule_revisions (task, revision)
        );
        """),
    ]

    /// Creates the schema and applies missing steps; returns the versions it applied.
    @discardableResult
    public static func apply(on c: PostgresConnection) throws -> [Int] {
        try c.execute("BEGIN")
        do {
            // The lock key is "baton" in ASCII (0x6261746f6e), an arbitrary constant.
            _ = try c.query("SELECT pg_advisory_xact_lock(422541815662)")
            try c.execute("""
            CREATE SCHEMA IF NOT EXISTS baton;
            CREATE TABLE IF NOT EXISTS baton.schema_migrations (
                version    integer PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
            let done = Set(try c.query("SELECT version FROM baton.schema_migrations").rows(width: 1, of: "schema migrations").compactMap { $0[0].flatMap(Int.init) })
            var applied: [Int] = []
            for (version, sql) in steps where !done.contains(version) {
                try c.execute(sql)
                _ = try c.query("INSERT INTO baton.schema_migrations (version) VALUES ($1::integer)", [String(version)])
                applied.append(version)
            }
            try c.execute("COMMIT")
            return applied
        } catch {
            try? c.execute("ROLLBACK")
            throw error
        }
    }
}
