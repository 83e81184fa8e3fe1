//! Schema migrations. `PRAGMA user_version` is the number of steps applied;
//! opening a store applies the missing ones, in order, in one transaction.
//! Steps are append-only: never edit one that has shipped, add the next.

pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: episodes, events, findings, secrets, canaries, tool definitions.
    r#"
CREATE TABLE episodes (
    id             INTEGER PRIMARY KEY,
    key            TEXT NOT NULL UNIQUE,   -- the events' `session`; '' for events without one
    agent          TEXT,                   -- first agent named by its events
    task           TEXT,                   -- first task named by its events
    first_ms       INTEGER NOT NULL,       -- earliest event time (its ts, else recorded_at), Unix ms
    last_ms        INTEGER NOT NULL,
    event_count    INTEGER NOT NULL,
    finding_count  INTEGER NOT NULL,
    worst_severity TEXT                    -- low|medium|high|critical, NULL without findings
);
CREATE INDEX episodes_by_last ON episodes(last_ms);
CREATE INDEX episodes_by_agent ON episodes(agent, last_ms);

CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,       -- global order of recording
    episode_id  INTEGER NOT NULL REFERENCES episodes(id),
    step        INTEGER NOT NULL,          -- 1-based position within the episode
    line        INTEGER,                   -- input line number
    event_id    TEXT,                      -- the event's `id`, as JSON text
    -- error: not a valid event. (ORs, not IN: a CHECK with IN opens a temporary table per insert.)
    kind        TEXT NOT NULL CHECK (kind = 'call' OR kind = 'result' OR kind = 'error'),
    tool        TEXT,
    capability  TEXT,
    input       TEXT,                      -- JSON, redacted
    output      TEXT,                      -- JSON, redacted
    raw         TEXT,                      -- the redacted line when it was not a valid event
    ts          TEXT,                      -- the event's own time, as given
    recorded_at TEXT NOT NULL,             -- RFC 3339 UTC, ms
    decision    TEXT NOT NULL CHECK (decision = 'allow' OR decision = 'warn' OR decision = 'block' OR decision = 'error'),
    severity    TEXT,
    findings    TEXT,                      -- JSON array as in the verdict, NULL when empty
    error       TEXT,
    UNIQUE (episode_id, step)
);

CREATE TABLE findings (
    id          INTEGER PRIMARY KEY,
    event_seq   INTEGER NOT NULL REFERENCES events(seq),
    episode_id  INTEGER NOT NULL REFERENCES episodes(id),
    kind        TEXT NOT NULL,
    severity    TEXT NOT NULL,
    confidence  REAL NOT NULL,
    rule        TEXT NOT NULL,
    attack      TEXT NOT NULL,             -- JSON array of ATT&CK ids
    evidence    TEXT NOT NULL,
    message     TEXT NOT NULL,
    related     TEXT                       -- JSON array of linked event ids, NULL when none
);
CREATE INDEX findings_by_event ON findings(event_seq);
CREATE INDEX findings_by_episode ON findings(episode_id, severity);
CREATE INDEX findings_by_kind ON findings(kind, episode_id);

CREATE TABLE secrets (
    fingerprint TEXT PRIMARY KEY,          -- keyed fingerprint (hex); never the secret
    kind        TEXT NOT NULL,
    first_seq   INTEGER NOT NULL REFERENCES events(seq),
    last_seq    INTEGER NOT NULL REFERENCES events(seq),
    count       INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE canaries (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    marker     TEXT NOT NULL,
    path       TEXT NOT NULL,
    planted_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE tool_definitions (
    name       TEXT PRIMARY KEY,
    schema     TEXT NOT NULL,              -- JSON
    hash       TEXT NOT NULL,
    first_seen TEXT NOT NULL
) WITHOUT ROWID;
"#,
    // 2: network and sandbox telemetry (`cordon ingest`, `cordon run`), for `cordon correlate`.
    r#"
CREATE TABLE net_events (
    id        INTEGER PRIMARY KEY,
    source    TEXT NOT NULL,   -- iptables|nftables|conntrack|zeek|suricata|vpcflow|sandbox
    kind      TEXT NOT NULL,   -- flow|packet|alert|dns|connect|process|resource|...
    ts_us     INTEGER NOT NULL, -- when it started, Unix microseconds, in the reporter's clock
    end_us    INTEGER,          -- when it ended, for flows
    host      TEXT,             -- who reported it: hostname, sensor, interface, netns, ENI
    proto     TEXT,             -- tcp|udp|icmp|...
    src       TEXT,
    sport     INTEGER,
    dst       TEXT,
    dport     INTEGER,
    action    TEXT,             -- allowed|blocked|alert, NULL when the record does not say
    bytes_out INTEGER,          -- from src to dst
    bytes_in  INTEGER,
    detail    TEXT,             -- JSON object: what else the format carries (signature, query, argv, ...)
    session   TEXT,             -- the episode, when the record itself names it (sandbox records)
    call_id   TEXT,             -- the tool call, likewise
    origin    TEXT,             -- file it was read from ('-' for stdin)
    line      INTEGER           -- its line there
);
CREATE INDEX net_events_by_time ON net_events(ts_us);
"#,
];
