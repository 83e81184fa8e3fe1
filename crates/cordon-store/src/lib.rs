//! The episode store: every event Cordon checked, its verdict and findings,
//! grouped into episodes (one agent run on one task, keyed by the events'
//! `session`), in one SQLite file.
//!
//! The file is opened in WAL mode with `synchronous=FULL`, so a batch that
//! [`Store::record`] returned from survives a crash or power loss, and readers
//! (`cordon episodes`) never block the writer. Several processes may write to
//! the same store (a hook runs one process per tool call): writes take the
//! lock up front and wait for it up to [`BUSY_TIMEOUT`].
//!
//! Nothing here redacts: callers hand in inputs, outputs and findings that are
//! already redacted, and secrets only as keyed fingerprints.

pub mod export;
mod key;
pub mod net;
mod schema;
pub mod time;

use std::collections::hash_map::{Entry, HashMap};
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cordon_core::{Decision, EventKind, Finding, Severity, Verdict};
use rusqlite::{params, CachedStatement, Connection, OptionalExtension, Row, TransactionBehavior};
use serde::Serialize;
use serde_json::Value;

pub use cordon_core::NetRecord;
pub use key::{key_path, KEY_ENV};

/// How long a write waits for another process holding the store's lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How the episode of events without a `session` is shown.
pub const NO_SESSION: &str = "(no session)";

/// `$XDG_DATA_HOME/cordon/cordon.db`, else `$HOME/.local/share/cordon/cordon.db`
/// (a relative `XDG_DATA_HOME` is ignored, as the XDG spec says).
pub fn default_path() -> PathBuf {
    store_path(std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME"))
}

fn store_path(xdg_data_home: Option<OsString>, home: Option<OsString>) -> PathBuf {
    let set = |v: Option<OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    match set(xdg_data_home).filter(|d| d.is_absolute()) {
        Some(data) => data.join("cordon").join("cordon.db"),
        None => set(home)
            .unwrap_or_default()
            .join(".local/share/cordon/cordon.db"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: no episode store here (nothing has been recorded yet, or --store / CORDON_STORE names another file)", .0.display())]
    Missing(PathBuf),
    #[error("{}: cannot {action}: {source}", .path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    #[error("{}: {source}", .path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{}: store schema version {found} is newer than this cordon understands (up to {supported}); use a newer cordon", .path.display())]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("{}: {what}", .path.display())]
    Invalid { path: PathBuf, what: String },
    #[error("{origin}: not a fingerprint key (expected 64 hex characters)")]
    BadKey { origin: String },
}

/// One checked line, as [`Store::record`] takes it.
#[derive(Debug, Clone)]
pub struct Record {
    /// Input line number.
    pub line: Option<u64>,
    pub event_id: Option<Value>,
    pub session: Option<String>,
    pub agent: Option<String>,
    pub task: Option<String>,
    /// `None` for a line that was not a valid event.
    pub kind: Option<EventKind>,
    pub tool: Option<String>,
    pub capability: Option<String>,
    /// The call's arguments as JSON text, already redacted by the caller
    /// (text, so that callers can serialise on their own threads).
    pub input: Option<String>,
    /// The result's output as JSON text, already redacted by the caller.
    pub output: Option<String>,
    /// The raw (redacted, truncated) line when it was not a valid event.
    pub raw: Option<String>,
    /// The event's own RFC 3339 time, if any.
    pub ts: Option<String>,
    /// Findings already redacted.
    pub verdict: Verdict,
    /// `(kind, keyed fingerprint hex)` of each secret seen in this event.
    pub secrets: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CanaryRecord {
    pub id: String,
    pub kind: String,
    pub marker: String,
    pub path: String,
    pub planted_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolDefinition {
    pub name: String,
    pub schema: Value,
    pub hash: String,
    pub first_seen: String,
}

/// An episode's summary, as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Episode {
    /// The events' `session`; empty for events without one (see [`NO_SESSION`]).
    pub key: String,
    pub agent: Option<String>,
    pub task: Option<String>,
    /// Earliest and latest event time (the event's `ts`, else when it was recorded), RFC 3339 UTC.
    pub first: String,
    pub last: String,
    pub events: u64,
    pub findings: u64,
    pub worst_severity: Option<Severity>,
}

impl Episode {
    /// The key, or [`NO_SESSION`] for the episode of events without a session.
    pub fn label(&self) -> &str {
        if self.key.is_empty() {
            NO_SESSION
        } else {
            &self.key
        }
    }
}

/// Which episodes [`Store::list_episodes`] returns; the default is all of them.
#[derive(Debug, Clone, Default)]
pub struct EpisodeFilter {
    pub agent: Option<String>,
    /// Substring of the task, ignoring ASCII case.
    pub task: Option<String>,
    /// Episodes with an event at or after this time (Unix ms)...
    pub since_ms: Option<i64>,
    /// ...and at or before this one.
    pub until_ms: Option<i64>,
    pub with_findings: bool,
    /// Episodes with at least one finding of this kind.
    pub finding_kind: Option<String>,
    pub limit: Option<usize>,
}

/// What an episode id given by a person resolves to.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    Found(Episode),
    NotFound,
    /// The id is a prefix of several keys (the first few).
    Ambiguous(Vec<String>),
}

/// One recorded event with its verdict.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Global order of recording.
    pub seq: i64,
    /// 1-based position within its episode.
    pub step: u64,
    pub line: Option<u64>,
    pub event_id: Option<Value>,
    /// `None` for a line that was not a valid event.
    pub kind: Option<EventKind>,
    pub tool: Option<String>,
    pub capability: Option<String>,
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub raw: Option<String>,
    pub ts: Option<String>,
    pub recorded_at: String,
    pub verdict: Verdict,
}

impl StoredEvent {
    /// When it happened, Unix ns: its own `ts` when that parses, else when it was recorded.
    pub fn time_nanos(&self) -> i64 {
        self.ts
            .as_deref()
            .and_then(time::parse_nanos)
            .or_else(|| time::parse_nanos(&self.recorded_at))
            .unwrap_or(0)
    }
}

/// What the store knows of one secret fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSighting {
    pub kind: String,
    /// The event it was first and last seen in.
    pub first_seq: i64,
    pub last_seq: i64,
    /// How many events it was seen in.
    pub count: u64,
    /// The episode of the first sighting.
    pub first_episode: String,
}

pub struct Store {
    /// Set by [`Store::checkpoint_in_background`]. Declared before `conn`
    /// so that it is dropped first (see [`Checkpointer`]'s `Drop`).
    checkpointer: Option<Checkpointer>,
    conn: Connection,
    path: PathBuf,
    key: [u8; 32],
}

/// WAL size at which the background checkpointer copies the log into the
/// database: SQLite's own default (1,000 pages of 4 KiB).
const CHECKPOINT_AT: u64 = 4 << 20;
/// WAL size at which the writer, when the background thread is idle, copies
/// what is left itself. The log restarts from its start only when a write
/// begins with every frame copied, which a checkpoint racing a busy writer
/// rarely leaves; the writer's own copy is then only the frames since the
/// thread's last one, and the next batch restarts the log.
const CHECKPOINT_CATCH_UP_AT: u64 = 2 * CHECKPOINT_AT;
/// WAL size at which the writer waits for a full checkpoint and restart
/// whatever the thread is doing: a hard bound on the log.
const CHECKPOINT_FORCED_AT: u64 = 64 << 20;

/// A thread with its own connection that checkpoints the WAL when a commit
/// has grown it past [`CHECKPOINT_AT`]. SQLite otherwise checkpoints inside
/// the commit that crosses the threshold, so one batch in every thousand
/// pages waits for 4 MB to be copied and the database file synced before its
/// verdicts can be printed. A passive checkpoint runs beside the writer
/// (WAL lets it), so that work moves off the recording path.
struct Checkpointer {
    nudge: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The thread is copying now.
    busy: std::sync::Arc<std::sync::atomic::AtomicBool>,
    wal: PathBuf,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        use std::sync::atomic::Ordering;
        let sql = sql_err(path);
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        let wal = wal_path(path);
        // One pending nudge is enough: the thread looks at the WAL's size, not at how many commits there were.
        let (nudge, nudged) = std::sync::mpsc::sync_channel::<()>(1);
        let busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (watched, running) = (wal.clone(), busy.clone());
        let thread = std::thread::Builder::new()
            .name("cordon-checkpoint".into())
            .spawn(move || {
                while nudged.recv().is_ok() {
                    if file_len(&watched) >= CHECKPOINT_AT {
                        running.store(true, Ordering::Release);
                        // A failed checkpoint loses nothing (the WAL keeps every
                        // frame); the next nudge tries again, and the writer
                        // bounds the log itself (see `committed`).
                        let _ = passive_checkpoint(&conn);
                        running.store(false, Ordering::Release);
                    }
                }
            })
            .map_err(|source| StoreError::Io {
                path: path.to_path_buf(),
                action: "start the checkpoint thread",
                source,
            })?;
        Ok(Checkpointer {
            nudge: Some(nudge),
            thread: Some(thread),
            busy,
            wal,
        })
    }

    /// After a commit: wake the thread, or copy here what the thread could
    /// not keep up with (see [`CHECKPOINT_CATCH_UP_AT`]).
    fn committed(&self, conn: &Connection) -> rusqlite::Result<()> {
        let wal = file_len(&self.wal);
        if wal >= CHECKPOINT_FORCED_AT {
            return conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()));
        }
        if wal >= CHECKPOINT_CATCH_UP_AT && !self.busy.load(std::sync::atomic::Ordering::Acquire) {
            // Best effort: busy when the thread has just started one.
            let _ = passive_checkpoint(conn);
        } else if let Some(nudge) = &self.nudge {
            let _ = nudge.try_send(());
        }
        Ok(())
    }
}

fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Close the thread's connection first: the store's own connection,
        // closed after it, is then the last one and checkpoints what is left.
        self.nudge.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn wal_path(db: &Path) -> PathBuf {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// An episode's running totals while a batch is recorded.
struct Tally {
    id: i64,
    agent: Option<String>,
    task: Option<String>,
    first_ms: i64,
    last_ms: i64,
    events: i64,
    findings: i64,
    worst: Option<Severity>,
}

impl Tally {
    /// The episode's totals so far, creating the episode (first seen `at`) when new.
    fn load(
        find: &mut CachedStatement,
        create: &mut CachedStatement,
        key: &str,
        at: i64,
    ) -> rusqlite::Result<Tally> {
        let found = find
            .query_row([key], |r| {
                Ok(Tally {
                    id: r.get(0)?,
                    agent: r.get(1)?,
                    task: r.get(2)?,
                    first_ms: r.get(3)?,
                    last_ms: r.get(4)?,
                    events: r.get(5)?,
                    findings: r.get(6)?,
                    worst: r
                        .get::<_, Option<String>>(7)?
                        .as_deref()
                        .and_then(Severity::parse),
                })
            })
            .optional()?;
        if let Some(t) = found {
            return Ok(t);
        }
        let id = create.insert(params![key, at])?;
        Ok(Tally {
            id,
            agent: None,
            task: None,
            first_ms: at,
            last_ms: at,
            events: 0,
            findings: 0,
            worst: None,
        })
    }
}

const EPISODE_COLUMNS: &str =
    "key, agent, task, first_ms, last_ms, event_count, finding_count, worst_severity";

impl Store {
    /// Open the store at `path`, creating it (and its directory, private to
    /// the user) when missing, and bring its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let mut builder = fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                action: "create the store's directory",
                source,
            })?;
        }
        // What agents did is private: create the file 0600 before SQLite
        // creates it with the umask's mode.
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        opts.open(path).map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            action: "create the store",
            source,
        })?;
        Store::connect(path)
    }

    /// Open a store that must already exist ([`StoreError::Missing`] otherwise):
    /// for readers, which should not leave an empty store behind.
    pub fn open_existing(path: &Path) -> Result<Store, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        Store::connect(path)
    }

    fn connect(path: &Path) -> Result<Store, StoreError> {
        let sql = sql_err(path);
        let mut conn = Connection::open(path).map_err(sql)?;
        // The timeout first: switching to WAL needs the lock.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        // Two processes creating the store at once can both try to switch it
        // to WAL; SQLite then says busy without waiting, so wait here.
        let deadline = Instant::now() + BUSY_TIMEOUT;
        while let Err(e) =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
        {
            if e.sqlite_error_code() != Some(rusqlite::ErrorCode::DatabaseBusy)
                || Instant::now() >= deadline
            {
                return Err(sql(e));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql)?;
        // Room for the pages a batch touches (table tails, index leaves of the
        // active episodes) so that they are not read back from the WAL.
        conn.pragma_update(None, "cache_size", -16_384)
            .map_err(sql)?;
        migrate(&mut conn, path)?;
        let key = key::load_or_create(path, std::env::var(KEY_ENV).ok())?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            key,
            checkpointer: None,
        })
    }

    /// For a process that records a stream of batches: checkpoint the WAL on
    /// a thread of its own instead of inside [`Store::record`]'s commits.
    /// Durability is unchanged (a commit is durable once it is in the WAL);
    /// what moves is the copy into the database file and its sync.
    pub fn checkpoint_in_background(&mut self) -> Result<(), StoreError> {
        if self.checkpointer.is_none() {
            let checkpointer = Checkpointer::start(&self.path)?;
            self.conn
                .pragma_update(None, "wal_autocheckpoint", 0)
                .map_err(sql_err(&self.path))?;
            self.checkpointer = Some(checkpointer);
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// 32-byte key for secret fingerprints: from env `CORDON_FINGERPRINT_KEY`
    /// (64 hex characters) when set, else from `<db path>.key` (hex, created
    /// with mode 0600 from the OS RNG on first open).
    pub fn fingerprint_key(&self) -> [u8; 32] {
        self.key
    }

    /// Append a batch in one transaction; returns only after the commit is durable.
    pub fn record(&mut self, batch: &[Record]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let path = self.path.as_path();
        let sql = sql_err(path);
        let now = time::now_ms();
        let recorded_at = time::format_ms(now);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        {
            let mut find_episode = tx
                .prepare_cached("SELECT id, agent, task, first_ms, last_ms, event_count, finding_count, worst_severity FROM episodes WHERE key = ?1")
                .map_err(sql)?;
            let mut new_episode = tx
                .prepare_cached("INSERT INTO episodes (key, first_ms, last_ms, event_count, finding_count) VALUES (?1, ?2, ?2, 0, 0)")
                .map_err(sql)?;
            let mut insert_event = tx
                .prepare_cached(
                    "INSERT INTO events (episode_id, step, line, event_id, kind, tool, capability, input, output, raw, ts, recorded_at, decision, severity, findings, error)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                )
                .map_err(sql)?;
            let mut insert_finding = tx
                .prepare_cached(
                    "INSERT INTO findings (event_seq, episode_id, kind, severity, confidence, rule, attack, evidence, message, related)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(sql)?;
            let mut insert_secret = tx
                .prepare_cached(
                    "INSERT INTO secrets (fingerprint, kind, first_seq, last_seq, count) VALUES (?1, ?2, ?3, ?3, 1)
                     ON CONFLICT (fingerprint) DO UPDATE SET last_seq = excluded.last_seq, count = count + 1",
                )
                .map_err(sql)?;

            let mut tallies: HashMap<&str, Tally> = HashMap::new();
            for rec in batch {
                let at = rec.ts.as_deref().and_then(time::parse_ms).unwrap_or(now);
                let tally = match tallies.entry(rec.session.as_deref().unwrap_or("")) {
                    Entry::Occupied(o) => o.into_mut(),
                    Entry::Vacant(v) => {
                        let tally = Tally::load(&mut find_episode, &mut new_episode, v.key(), at)
                            .map_err(sql)?;
                        v.insert(tally)
                    }
                };
                tally.events += 1;
                tally.findings += rec.verdict.findings.len() as i64;
                tally.first_ms = tally.first_ms.min(at);
                tally.last_ms = tally.last_ms.max(at);
                let severity = rec
                    .verdict
                    .findings
                    .iter()
                    .map(|f| f.severity)
                    .chain(rec.verdict.severity)
                    .max();
                tally.worst = tally.worst.max(severity);
                if tally.agent.is_none() {
                    tally.agent.clone_from(&rec.agent);
                }
                if tally.task.is_none() {
                    tally.task.clone_from(&rec.task);
                }

                let findings = if rec.verdict.findings.is_empty() {
                    None
                } else {
                    Some(serde_json::to_string(&rec.verdict.findings).map_err(|e| {
                        StoreError::Invalid {
                            path: path.to_path_buf(),
                            what: format!("cannot encode findings: {e}"),
                        }
                    })?)
                };
                insert_event
                    .execute(params![
                        tally.id,
                        tally.events,
                        rec.line.map(|l| l as i64),
                        rec.event_id.as_ref().map(Value::to_string),
                        kind_str(rec.kind),
                        rec.tool,
                        rec.capability,
                        rec.input,
                        rec.output,
                        rec.raw,
                        rec.ts,
                        recorded_at,
                        decision_str(rec.verdict.decision),
                        severity.map(Severity::as_str),
                        findings,
                        rec.verdict.error,
                    ])
                    .map_err(sql)?;
                let seq = tx.last_insert_rowid();
                for f in &rec.verdict.findings {
                    insert_finding
                        .execute(params![
                            seq,
                            tally.id,
                            f.kind,
                            f.severity.as_str(),
                            // SQLite stores NaN as NULL, which the column refuses.
                            if f.confidence.is_nan() {
                                0.0
                            } else {
                                f.confidence
                            },
                            f.rule,
                            Value::from(f.attack.clone()).to_string(),
                            f.evidence,
                            f.message,
                            (!f.related.is_empty())
                                .then(|| Value::from(f.related.clone()).to_string()),
                        ])
                        .map_err(sql)?;
                }
                for (kind, fingerprint) in &rec.secrets {
                    insert_secret
                        .execute(params![fingerprint, kind, seq])
                        .map_err(sql)?;
                }
            }

            let mut update_episode = tx
                .prepare_cached(
                    "UPDATE episodes SET agent = ?2, task = ?3, first_ms = ?4, last_ms = ?5, event_count = ?6,
                     finding_count = ?7, worst_severity = ?8 WHERE id = ?1",
                )
                .map_err(sql)?;
            for t in tallies.values() {
                update_episode
                    .execute(params![
                        t.id,
                        t.agent,
                        t.task,
                        t.first_ms,
                        t.last_ms,
                        t.events,
                        t.findings,
                        t.worst.map(Severity::as_str)
                    ])
                    .map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)?;
        match &self.checkpointer {
            Some(c) => c.committed(&self.conn).map_err(sql),
            None => Ok(()),
        }
    }

    /// Add canaries, replacing any with the same id.
    pub fn add_canaries(&mut self, canaries: &[CanaryRecord]) -> Result<(), StoreError> {
        let sql = sql_err(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO canaries (id, kind, marker, path, planted_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, marker = excluded.marker,
                     path = excluded.path, planted_at = excluded.planted_at",
                )
                .map_err(sql)?;
            for c in canaries {
                insert
                    .execute(params![c.id, c.kind, c.marker, c.path, c.planted_at])
                    .map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)
    }

    /// Every canary, oldest first.
    pub fn canaries(&self) -> Result<Vec<CanaryRecord>, StoreError> {
        let sql = sql_err(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, kind, marker, path, planted_at FROM canaries ORDER BY planted_at, id",
            )
            .map_err(sql)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(CanaryRecord {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    marker: r.get(2)?,
                    path: r.get(3)?,
                    planted_at: r.get(4)?,
                })
            })
            .map_err(sql)?;
        rows.collect::<Result<_, _>>().map_err(sql)
    }

    pub fn tool_definition(&self, name: &str) -> Result<Option<ToolDefinition>, StoreError> {
        let sql = sql_err(&self.path);
        let row = self
            .conn
            .prepare_cached(
                "SELECT name, schema, hash, first_seen FROM tool_definitions WHERE name = ?1",
            )
            .map_err(sql)?
            .query_row([name], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                ))
            })
            .optional()
            .map_err(sql)?;
        row.map(|(name, schema, hash, first_seen)| {
            let schema = self.json(&schema, || format!("tool definition {name:?}"))?;
            Ok(ToolDefinition {
                name,
                schema,
                hash,
                first_seen,
            })
        })
        .transpose()
    }

    /// Store a tool's definition, replacing the one of the same name.
    pub fn put_tool_definition(&mut self, d: &ToolDefinition) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO tool_definitions (name, schema, hash, first_seen) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET schema = excluded.schema, hash = excluded.hash, first_seen = excluded.first_seen",
            )
            .and_then(|mut s| s.execute(params![d.name, d.schema.to_string(), d.hash, d.first_seen]))
            .map(drop)
            .map_err(sql_err(&self.path))
    }

    /// What the store knows of a secret fingerprint (hex), if it was seen.
    pub fn secret(&self, fingerprint: &str) -> Result<Option<SecretSighting>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT s.kind, s.first_seq, s.last_seq, s.count, p.key FROM secrets s
                 JOIN events e ON e.seq = s.first_seq JOIN episodes p ON p.id = e.episode_id
                 WHERE s.fingerprint = ?1",
            )
            .and_then(|mut s| {
                s.query_row([fingerprint], |r| {
                    Ok(SecretSighting {
                        kind: r.get(0)?,
                        first_seq: r.get(1)?,
                        last_seq: r.get(2)?,
                        count: r.get(3)?,
                        first_episode: r.get(4)?,
                    })
                })
                .optional()
            })
            .map_err(sql_err(&self.path))
    }

    /// Episodes matching `filter`, most recently active first.
    pub fn list_episodes(&self, filter: &EpisodeFilter) -> Result<Vec<Episode>, StoreError> {
        let sql = sql_err(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {EPISODE_COLUMNS} FROM episodes e
                 WHERE (?1 IS NULL OR agent = ?1)
                   AND (?2 IS NULL OR instr(lower(coalesce(task, '')), lower(?2)) > 0)
                   AND (?3 IS NULL OR last_ms >= ?3)
                   AND (?4 IS NULL OR first_ms <= ?4)
                   AND (?5 = 0 OR finding_count > 0)
                   AND (?6 IS NULL OR EXISTS (SELECT 1 FROM findings f WHERE f.kind = ?6 AND f.episode_id = e.id))
                 ORDER BY last_ms DESC, id DESC
                 LIMIT ?7"
            ))
            .map_err(sql)?;
        let limit = filter.limit.map_or(-1, |l| l.min(i64::MAX as usize) as i64);
        let rows = stmt
            .query_map(
                params![
                    filter.agent,
                    filter.task,
                    filter.since_ms,
                    filter.until_ms,
                    filter.with_findings,
                    filter.finding_kind,
                    limit
                ],
                episode_from_row,
            )
            .map_err(sql)?;
        rows.collect::<Result<_, _>>().map_err(sql)
    }

    /// The episode with exactly this key, else the one whose key starts with
    /// `id`. [`NO_SESSION`] names the episode of events without a session.
    pub fn find_episode(&self, id: &str) -> Result<Lookup, StoreError> {
        let sql = sql_err(&self.path);
        let key = if id == NO_SESSION { "" } else { id };
        let exact = self
            .conn
            .prepare_cached(&format!(
                "SELECT {EPISODE_COLUMNS} FROM episodes WHERE key = ?1"
            ))
            .and_then(|mut s| s.query_row([key], episode_from_row).optional())
            .map_err(sql)?;
        if let Some(e) = exact {
            return Ok(Lookup::Found(e));
        }
        if key.is_empty() {
            return Ok(Lookup::NotFound);
        }
        let mut matches: Vec<Episode> = self
            .conn
            .prepare_cached(&format!(
                "SELECT {EPISODE_COLUMNS} FROM episodes WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key LIMIT 10"
            ))
            .and_then(|mut s| s.query_map([key], episode_from_row)?.collect())
            .map_err(sql)?;
        Ok(match matches.len() {
            0 => Lookup::NotFound,
            1 => Lookup::Found(matches.remove(0)),
            _ => Lookup::Ambiguous(matches.into_iter().map(|e| e.key).collect()),
        })
    }

    /// The events of the episode with this exact key, in order.
    pub fn events(&self, key: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = sql_err(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, step, line, event_id, kind, tool, capability, input, output, raw, ts, recorded_at,
                        decision, severity, findings, error
                 FROM events WHERE episode_id = (SELECT id FROM episodes WHERE key = ?1) ORDER BY step",
            )
            .map_err(sql)?;
        let rows = stmt.query_map([key], RawEvent::from_row).map_err(sql)?;
        rows.map(|r| r.map_err(sql).and_then(|raw| raw.decode(self)))
            .collect()
    }

    /// Parse a JSON column; `what` names the row for the error.
    fn json(&self, text: &str, what: impl FnOnce() -> String) -> Result<Value, StoreError> {
        serde_json::from_str(text).map_err(|e| StoreError::Invalid {
            path: self.path.clone(),
            what: format!("{}: bad JSON: {e}", what()),
        })
    }
}

/// An events row before its JSON columns are parsed.
struct RawEvent {
    seq: i64,
    step: u64,
    line: Option<u64>,
    event_id: Option<String>,
    kind: String,
    tool: Option<String>,
    capability: Option<String>,
    input: Option<String>,
    output: Option<String>,
    raw: Option<String>,
    ts: Option<String>,
    recorded_at: String,
    decision: String,
    severity: Option<String>,
    findings: Option<String>,
    error: Option<String>,
}

impl RawEvent {
    fn from_row(r: &Row) -> rusqlite::Result<RawEvent> {
        Ok(RawEvent {
            seq: r.get(0)?,
            step: r.get(1)?,
            line: r.get(2)?,
            event_id: r.get(3)?,
            kind: r.get(4)?,
            tool: r.get(5)?,
            capability: r.get(6)?,
            input: r.get(7)?,
            output: r.get(8)?,
            raw: r.get(9)?,
            ts: r.get(10)?,
            recorded_at: r.get(11)?,
            decision: r.get(12)?,
            severity: r.get(13)?,
            findings: r.get(14)?,
            error: r.get(15)?,
        })
    }

    fn decode(self, store: &Store) -> Result<StoredEvent, StoreError> {
        let seq = self.seq;
        let what = || format!("event {seq}");
        let json = |text: Option<String>| text.map(|t| store.json(&t, what)).transpose();
        let findings: Vec<Finding> = match self.findings {
            None => Vec::new(),
            Some(text) => serde_json::from_str(&text).map_err(|e| StoreError::Invalid {
                path: store.path.clone(),
                what: format!("{}: bad findings: {e}", what()),
            })?,
        };
        let event_id = json(self.event_id)?;
        let decision = match self.decision.as_str() {
            "allow" => Decision::Allow,
            "warn" => Decision::Warn,
            "block" => Decision::Block,
            _ => Decision::Error,
        };
        Ok(StoredEvent {
            seq,
            step: self.step,
            line: self.line,
            kind: match self.kind.as_str() {
                "call" => Some(EventKind::Call),
                "result" => Some(EventKind::Result),
                _ => None,
            },
            tool: self.tool,
            capability: self.capability,
            input: json(self.input)?,
            output: json(self.output)?,
            raw: self.raw,
            ts: self.ts,
            recorded_at: self.recorded_at,
            verdict: Verdict {
                id: event_id.clone(),
                decision,
                severity: self.severity.as_deref().and_then(Severity::parse),
                findings,
                error: self.error,
                line: self.line.map(|l| l as usize),
            },
            event_id,
        })
    }
}

fn episode_from_row(r: &Row) -> rusqlite::Result<Episode> {
    Ok(Episode {
        key: r.get(0)?,
        agent: r.get(1)?,
        task: r.get(2)?,
        first: time::format_ms(r.get(3)?),
        last: time::format_ms(r.get(4)?),
        events: r.get(5)?,
        findings: r.get(6)?,
        worst_severity: r
            .get::<_, Option<String>>(7)?
            .as_deref()
            .and_then(Severity::parse),
    })
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let sql = sql_err(path);
    let supported = schema::MIGRATIONS.len() as i64;
    let version =
        |c: &Connection| c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0));
    if version(conn).map_err(sql)? == supported {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    // Read again under the lock: another process may have migrated meanwhile.
    let found = version(&tx).map_err(sql)?;
    if found > supported {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported,
        });
    }
    if found < 0 {
        return Err(StoreError::Invalid {
            path: path.to_path_buf(),
            what: format!("not a Cordon store (user_version {found})"),
        });
    }
    if found == 0 {
        let tables: i64 = tx
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(sql)?;
        if tables > 0 {
            return Err(StoreError::Invalid {
                path: path.to_path_buf(),
                what: "not a Cordon store (an SQLite database with other tables)".into(),
            });
        }
    }
    for step in &schema::MIGRATIONS[found as usize..] {
        tx.execute_batch(step).map_err(sql)?;
    }
    tx.pragma_update(None, "user_version", supported)
        .map_err(sql)?;
    tx.commit().map_err(sql)
}

fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + Copy + '_ {
    move |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

fn kind_str(kind: Option<EventKind>) -> &'static str {
    match kind {
        Some(EventKind::Call) => "call",
        Some(EventKind::Result) => "result",
        None => "error",
    }
}

fn decision_str(d: Decision) -> &'static str {
    match d {
        Decision::Allow => "allow",
        Decision::Warn => "warn",
        Decision::Block => "block",
        Decision::Error => "error",
    }
}

#[cfg(test)]
mod tests;
