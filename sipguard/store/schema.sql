-- sipguard location store, schema version 1.
-- Applied by SqliteLocationStore.open on every start; every statement is idempotent.

CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL
);

-- A new file gets version 1; an existing one keeps the version it was written with.
INSERT INTO schema_version (version)
    SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM schema_version);

CREATE TABLE IF NOT EXISTS bindings (
    aor         TEXT NOT NULL,     -- canonical address-of-record
    contact     TEXT NOT NULL,     -- Contact URI as registered
    expires_at  REAL NOT NULL,     -- wall-clock UNIX seconds
    q           REAL,              -- NULL: no q-value given
    call_id     TEXT NOT NULL,
    cseq        INTEGER NOT NULL,
    path        TEXT NOT NULL,     -- JSON array of Path values, in order
    source      TEXT NOT NULL,     -- "udp:203.0.113.5:5060"
    user_agent  TEXT,
    updated_at  REAL NOT NULL,
    UNIQUE (aor, contact)
);

CREATE INDEX IF NOT EXISTS bindings_expires_at ON bindings (expires_at);
