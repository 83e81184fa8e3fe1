//! `cordon check --jsonl --store`: a verdict is printed only after its event
//! is durable. These tests kill the real process with SIGKILL at random
//! points of a stream and then prove every event whose verdict was printed
//! is in the store, and that the store is intact.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

fn cordon() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cordon"))
}

/// A small xorshift generator: the kill points must vary between runs
/// (the seed is printed so a failure can be replayed with CORDON_TEST_SEED).
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn seed() -> u64 {
    std::env::var("CORDON_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        })
}

fn event(i: usize) -> String {
    let cmds = [
        "ls -la",
        "pytest -q tests/",
        "curl -s https://pypi.org/simple/",
        "ssh -R 9000:localhost:22 u@203.0.113.9",
        "cat ~/.aws/credentials",
        "git status",
    ];
    let session = format!("s{}", i % 7);
    serde_json::json!({"id": format!("e{i}"), "session": session, "agent": "test", "task": "coding", "tool": "bash", "input": {"command": cmds[i % cmds.len()]}}).to_string()
}

fn stored_ids(db: &std::path::Path) -> HashSet<String> {
    let store = cordon_store::Store::open_existing(db).expect("store opens after a kill");
    let mut ids = HashSet::new();
    for ep in store
        .list_episodes(&cordon_store::EpisodeFilter::default())
        .unwrap()
    {
        for e in store.events(&ep.key).unwrap() {
            if let Some(serde_json::Value::String(id)) = e.event_id {
                ids.insert(id);
            }
        }
    }
    ids
}

/// Kill while the producer writes as fast as it can (large batches in flight).
#[test]
fn sigkill_mid_stream_loses_no_printed_verdict() {
    let mut rng = Rng(seed());
    eprintln!("CORDON_TEST_SEED={}", rng.0);
    for round in 0..12 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("episodes.db");
        let mut child = cordon()
            .args(["check", "--jsonl", "--store"])
            .arg(&db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let total = 5000;
        let feeder = std::thread::spawn(move || {
            for i in 0..total {
                if writeln!(stdin, "{}", event(i)).is_err() {
                    return; // the process was killed
                }
            }
        });
        let kill_after = 1 + rng.next(600) as usize;
        let mut printed = Vec::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while printed.len() < kill_after {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                break;
            }
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            printed.push(v["id"].as_str().unwrap().to_string());
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let _ = feeder.join();
        // Whatever else the pipe held was printed too: count it as seen.
        let mut rest = String::new();
        while out.read_line(&mut rest).map(|n| n > 0).unwrap_or(false) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&rest) {
                printed.push(v["id"].as_str().unwrap_or_default().to_string());
            }
            rest.clear();
        }
        let stored = stored_ids(&db);
        let lost: Vec<&String> = printed.iter().filter(|id| !stored.contains(*id)).collect();
        assert!(
            lost.is_empty(),
            "round {round}: killed after {kill_after} verdicts; printed but not stored: {lost:?}"
        );
        assert!(stored.len() >= printed.len(), "round {round}");
    }
}

/// Kill between lines of an interactive producer (one line, one verdict).
#[test]
fn sigkill_between_interactive_lines_loses_nothing() {
    let mut rng = Rng(seed() ^ 0x9e37_79b9_7f4a_7c15);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("episodes.db");
    let mut child = cordon()
        .args(["check", "--jsonl", "--store"])
        .arg(&db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let n = 5 + rng.next(40) as usize;
    let mut printed = Vec::new();
    for i in 0..n {
        writeln!(stdin, "{}", event(i)).unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            v["id"],
            format!("e{i}"),
            "verdicts come back in order, one per line"
        );
        printed.push(format!("e{i}"));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let stored = stored_ids(&db);
    for id in &printed {
        assert!(
            stored.contains(id),
            "{id} was printed but is not in the store"
        );
    }
    // The store is intact and still writable after the kill.
    let status = cordon()
        .args(["check", "--jsonl", "--store"])
        .arg(&db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .and_then(|mut c| {
            writeln!(c.stdin.take().unwrap(), "{}", event(999))?;
            c.wait()
        });
    assert!(status.unwrap().code().is_some());
    assert!(stored_ids(&db).contains("e999"));
}
